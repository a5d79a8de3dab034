"""News feeds (RSS/Atom): fetching, parsing, sanitizing. Knows nothing about Telegram."""
