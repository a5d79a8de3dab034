"""Plain services holding the bot's rules. No Telegram imports here."""
