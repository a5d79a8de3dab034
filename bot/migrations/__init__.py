"""Alembic migrations, loaded by path (bot.db.migrate); a package only for the import contracts."""
