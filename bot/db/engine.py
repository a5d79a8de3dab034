"""Engine and session factory: the one way the bot reaches its database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def _backend(url: URL) -> str:
    name = url.get_backend_name()
    return "postgresql" if name in ("postgres", "postgresql") else name


def async_url(database_url: str) -> URL:
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    return url.set(drivername=_ASYNC_DRIVERS[_backend(url)])


def sync_url(database_url: str) -> URL:
    """The same database for tools that run synchronously (Alembic)."""
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    return url.set(drivername=_SYNC_DRIVERS[_backend(url)])


def _tune_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while the bot writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """Owns the engine. Callers open one transaction per use case; queries never commit."""

    def __init__(self, database_url: str, *, echo: bool = False) -> None:
        self.url = async_url(database_url)
        self.engine: AsyncEngine = create_async_engine(self.url, echo=echo, pool_pre_ping=True)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _tune_sqlite)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
