"""Storage: models, engine and migrations. Nothing here commits on its own."""

from bot.db.engine import Database, affected_rows, async_url, dialect_name, sync_url

__all__ = ["Database", "affected_rows", "async_url", "dialect_name", "sync_url"]
