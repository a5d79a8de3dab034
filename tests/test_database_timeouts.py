"""A PostgreSQL that never answers ends in one clear line, never a hang; statements are bounded."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bot.db.engine import Database, sync_url
from tests.processes import ROOT

# psycopg alone gives up after 130 s; the bot's own default is 10 s.
WITHIN_S = 90


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


async def db_upgrade(database_url: str) -> tuple[int, list[str]]:
    env = {key: value for key, value in os.environ.items() if key != "TELEGRAM_BOT_TOKEN"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "db",
        "upgrade",
        cwd=ROOT,
        env={**env, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), WITHIN_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"`db upgrade` still waiting for a silent database after {WITHIN_S} s")
    return process.returncode, stderr.decode().splitlines()


async def test_a_database_that_never_answers_is_one_line_and_exit_2(silent_server):
    returncode, lines = await db_upgrade(f"postgresql://psm@127.0.0.1:{silent_server}/psm")
    assert returncode == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("psm-bot: configuration error: cannot reach the database")
    assert "timeout" in lines[0].lower()


async def test_the_connect_timeout_can_be_shortened_in_the_url(silent_server):
    url = f"postgresql://psm@127.0.0.1:{silent_server}/psm?connect_timeout=2"
    returncode, lines = await db_upgrade(url)
    assert returncode == 2
    assert len(lines) == 1 and "timeout" in lines[0].lower(), lines


@pytest.fixture
def postgres_url(database_url: str, backend: str) -> str:
    if backend != "postgresql":
        pytest.skip("statement timeouts are PostgreSQL's")
    return database_url


async def statement_timeout(database_url: str) -> str:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            return await session.scalar(text("SHOW statement_timeout"))
    finally:
        await db.dispose()


async def test_the_bot_bounds_every_statement(postgres_url):
    assert await statement_timeout(postgres_url) == "1min"


async def test_a_statement_over_the_timeout_fails_instead_of_hanging(postgres_url):
    db = Database(f"{postgres_url}?options=-c%20statement_timeout%3D500")
    try:
        with pytest.raises(OperationalError, match="statement timeout"):
            async with db.transaction() as session:
                await session.execute(text("SELECT pg_sleep(30)"))
    finally:
        await db.dispose()


def test_migrations_have_a_connect_timeout_but_no_statement_timeout(postgres_url):
    # Building an index on a large table may take longer than any statement of the bot.
    engine = create_engine(sync_url(postgres_url))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        engine.dispose()
    assert sync_url(postgres_url).query["connect_timeout"] == "10"
