"""Engine and session factory: the one way the bot reaches its database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import event, text
from sqlalchemy.engine import URL, CursorResult, Result, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    AsyncSessionTransaction,
    async_sessionmaker,
    create_async_engine,
)

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}
# A PostgreSQL that accepts connections but never answers must end in an error, not a hang.
# libpq parameters in DATABASE_URL win (`?connect_timeout=5`, `?options=-c statement_timeout=5s`).
CONNECT_TIMEOUT_S = 10
# The bot's own statements: the largest (a 100k-recipient INSERT…SELECT) takes seconds.
# Migrations (the synchronous URL) get none: building an index on a large table may take long.
STATEMENT_TIMEOUT_MS = 60_000


def _backend(url: URL) -> str:
    name = url.get_backend_name()
    return "postgresql" if name in ("postgres", "postgresql") else name


def async_url(database_url: str) -> URL:
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    return _with_timeouts(url.set(drivername=_ASYNC_DRIVERS[_backend(url)]), statements=True)


def sync_url(database_url: str) -> URL:
    """The same database for tools that run synchronously (Alembic)."""
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    return _with_timeouts(url.set(drivername=_SYNC_DRIVERS[_backend(url)]), statements=False)


def _with_timeouts(url: URL, *, statements: bool) -> URL:
    """PostgreSQL: a connect timeout, and (for the bot's own work) a statement timeout,
    unless the URL sets its own."""
    if _backend(url) != "postgresql":
        return url
    query = dict(url.query)
    query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    options = query.get("options", "")
    if statements and "statement_timeout" not in str(options):
        default = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        query["options"] = f"{options} {default}" if options else default
    return url.set(query=query)


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


def affected_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through a session touched.

    `Session.execute()` is typed as returning a `Result`; for these statements it is a
    `CursorResult`, the class that carries `rowcount`.
    """
    return cast(CursorResult[Any], result).rowcount


def dialect_name(session: AsyncSession) -> str:
    """The backend the session talks to ("sqlite" or "postgresql")."""
    return session.get_bind().dialect.name


async def savepoint(session: AsyncSession) -> AsyncSessionTransaction:
    """`session.begin_nested()` that can write after reading, on SQLite too.

    A SAVEPOINT opened outside a write transaction starts SQLite's transaction with a read
    snapshot; once another connection commits, that snapshot can never write ("database is
    locked" at once, without waiting). A write first makes the transaction a writer, which waits
    for the others instead (busy timeout)."""
    if dialect_name(session) == "sqlite":
        await session.execute(text("UPDATE strategies SET id = id WHERE 0"))
    return session.begin_nested()


# One advisory lock stands for "who may receive deliveries": targetings hold it shared (any
# number at once), /forget exclusively. Row locks on every recipient (FOR KEY SHARE, what a
# foreign key check takes) did the same at the cost of writing each of their rows.
_AUDIENCE_LOCK = 0x70736D_617564  # "psm" "aud"


async def hold_audience(session: AsyncSession) -> None:
    """Until the commit, nobody is erased: the recipients chosen now stay (PostgreSQL; on
    SQLite a writer excludes every other already)."""
    if dialect_name(session) == "postgresql":
        shared = text("SELECT pg_advisory_xact_lock_shared(:key)")
        await session.execute(shared, {"key": _AUDIENCE_LOCK})


async def erase_from_audience(session: AsyncSession) -> None:
    """Before erasing a person: waits for the targetings in progress to commit, and a
    targeting that starts meanwhile waits for this transaction (then it no longer sees them)."""
    if dialect_name(session) == "postgresql":
        exclusive = text("SELECT pg_advisory_xact_lock(:key)")
        await session.execute(exclusive, {"key": _AUDIENCE_LOCK})
