"""`python -m bot db upgrade` migrates and seeds; `db seed` only reloads the plan's reference
data from the YAML file, into a database already at the latest schema — each run as a real
process on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect, text

from bot.db import migrate
from bot.db.engine import sync_url
from bot.services import plan
from tests.conftest import BACKENDS, TemporaryPostgresDatabase
from tests.processes import ROOT

PROCESS_TIMEOUT_S = 240  # a loaded machine takes a while to import and migrate


@pytest.fixture(params=BACKENDS)
def empty_database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        return
    with TemporaryPostgresDatabase() as url:
        yield url


def run_db(action: str, database_url: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "db", action],
        cwd=ROOT,
        env={**base, "LOG_LEVEL": "WARNING", "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
    )


def query(database_url: str, sql: str, **params) -> list[tuple]:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def table_names(database_url: str) -> set[str]:
    engine = create_engine(sync_url(database_url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_seed_puts_back_the_plan_names_an_edit_changed(empty_database_url):
    url = empty_database_url
    assert run_db("upgrade", url).returncode == 0
    first = plan.load_plan().strategies[0]
    query(url, "UPDATE strategies SET name_it = 'edited' WHERE id = :id", id=first["id"])

    result = run_db("seed", url)

    assert result.returncode == 0, result.stderr
    assert "database ready (seed)" in result.stdout
    names = query(url, "SELECT name_it FROM strategies WHERE id = :id", id=first["id"])
    assert names == [(first["name_it"],)]


def test_seed_does_not_migrate_an_empty_database(empty_database_url):
    result = run_db("seed", empty_database_url)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("psm-bot:"), result.stderr
    assert "python -m bot db upgrade" in lines[0]
    assert "alembic_version" not in table_names(empty_database_url)


def test_seed_leaves_an_older_schema_at_its_revision(empty_database_url):
    url = empty_database_url
    migrate.upgrade(url)
    migrate.downgrade(url, "-1")
    before = query(url, "SELECT version_num FROM alembic_version")

    result = run_db("seed", url)

    assert result.returncode == 2, result.stderr
    assert "python -m bot db upgrade" in result.stderr
    assert query(url, "SELECT version_num FROM alembic_version") == before
