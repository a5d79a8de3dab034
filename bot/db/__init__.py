"""Storage: models, engine and migrations. Nothing here commits on its own."""

from bot.db.engine import Database, async_url, sync_url

__all__ = ["Database", "async_url", "sync_url"]
