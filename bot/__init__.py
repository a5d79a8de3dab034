"""psm-bot: Telegram bot of the Piano Strategico Metropolitano di Genova."""
