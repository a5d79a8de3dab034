"""What an operator gets when something is wrong: one line on stderr starting with
"psm-bot:", exit code 2, never a traceback — each case run as a real `python -m bot` process."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_TOKEN
from tests.feed_server import FeedServer, without_proxies
from tests.processes import ROOT

PROCESS_TIMEOUT_S = 240  # a loaded machine takes a while to import and migrate
OTHER_TOKEN = "987654321:ANOTHER-token-the-stand-in-does-not-know"


async def run_bot(*argv: str, **env: str) -> tuple[int, str]:
    """Run `python -m bot ARGV` with a fresh SQLite database unless DATABASE_URL is given;
    returns the exit code and stderr."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "PORT", "LISTEN", "WEBHOOK_"))
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *argv,
        cwd=ROOT,
        env={**base, "LOG_LEVEL": "WARNING", **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _out, err = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode, err.decode("utf-8", "replace")


def assert_one_line(returncode: int, stderr: str, *words: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("psm-bot:"), stderr
    for word in words:
        assert word.casefold() in lines[0].casefold(), stderr


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.sqlite3'}"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_a_sqlite_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_text("these are my notes, not a database\n")
    returncode, stderr = await run_bot("db", "upgrade", DATABASE_URL=f"sqlite:///{path}")
    assert_one_line(returncode, stderr, "not a database")


@pytest.mark.parametrize("command", [["run"], ["deliver"]])
async def test_a_token_the_server_rejects(sandbox, tmp_path, command):
    returncode, stderr = await run_bot(
        *command,
        DATABASE_URL=sqlite_url(tmp_path),
        TELEGRAM_BOT_TOKEN=OTHER_TOKEN,
        TELEGRAM_API_BASE_URL=sandbox.base_url,
    )
    assert_one_line(returncode, stderr, "TELEGRAM_BOT_TOKEN", "rejected")


@pytest.mark.parametrize("command", [["run"], ["deliver"]])
async def test_an_unreachable_bot_api(tmp_path, command):
    returncode, stderr = await run_bot(
        *command,
        DATABASE_URL=sqlite_url(tmp_path),
        TELEGRAM_BOT_TOKEN=TEST_TOKEN,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{closed_port()}/bot",
    )
    assert_one_line(returncode, stderr, "TELEGRAM_API_BASE_URL")


async def test_a_port_in_use(sandbox, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        returncode, stderr = await run_bot(
            "run",
            DATABASE_URL=sqlite_url(tmp_path),
            TELEGRAM_BOT_TOKEN=TEST_TOKEN,
            TELEGRAM_API_BASE_URL=sandbox.base_url,
            LISTEN="127.0.0.1",
            PORT=str(taken.getsockname()[1]),
        )
    assert_one_line(returncode, stderr, "PORT", "in use")


async def test_a_listen_address_that_does_not_resolve(sandbox, tmp_path):
    returncode, stderr = await run_bot(
        "run",
        DATABASE_URL=sqlite_url(tmp_path),
        TELEGRAM_BOT_TOKEN=TEST_TOKEN,
        TELEGRAM_API_BASE_URL=sandbox.base_url,
        LISTEN="no-such-host.invalid",
        PORT=str(closed_port()),
    )
    assert_one_line(returncode, stderr, "LISTEN", "no-such-host.invalid")


async def test_deeply_nested_json_in_a_monitoring_file(tmp_path):
    deep = tmp_path / "monitoraggio.json"
    deep.write_text('{"actions": ' + "[" * 100_000 + "]" * 100_000 + "}")
    returncode, stderr = await run_bot(
        "monitoring", "import", str(deep), DATABASE_URL=sqlite_url(tmp_path)
    )
    assert_one_line(returncode, stderr, "monitoraggio.json", "nested")


async def test_a_csv_field_over_the_csv_modules_limit(tmp_path):
    actions = tmp_path / "actions.csv"
    actions.write_text('code,strategy,title_it\nA1,S1,"' + "x" * 200_000 + '"\n')
    returncode, stderr = await run_bot(
        "monitoring", "import", str(actions), DATABASE_URL=sqlite_url(tmp_path)
    )
    assert_one_line(returncode, stderr, "actions.csv line 2")


async def test_a_bad_dtstart_in_an_ics_file(tmp_path):
    calendar = tmp_path / "agenda.ics"
    calendar.write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//IT\r\nBEGIN:VEVENT\r\n"
        b"UID:bad-1@example.org\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:2026-13-45 25:99\r\n"
        b"SUMMARY:Incontro\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    returncode, stderr = await run_bot(
        "events", "import-ics", str(calendar), DATABASE_URL=sqlite_url(tmp_path)
    )
    assert_one_line(returncode, stderr, "DTSTART", "bad-1@example.org")


async def test_an_unreachable_ics_url(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/agenda.ics"
    returncode, stderr = await run_bot(
        "events", "import-ics", url, DATABASE_URL=sqlite_url(tmp_path)
    )
    assert_one_line(returncode, stderr, url)


async def test_a_looping_ics_url(tmp_path, monkeypatch):
    without_proxies(monkeypatch)
    async with FeedServer.running() as server:
        server.redirect("/agenda.ics", "/calendario.ics", status=302)
        server.redirect("/calendario.ics", "/agenda.ics", status=302)
        returncode, stderr = await run_bot(
            "events",
            "import-ics",
            server.url("/agenda.ics"),
            DATABASE_URL=sqlite_url(tmp_path),
            NO_PROXY="127.0.0.1",
        )
    assert_one_line(returncode, stderr, "redirect loop")
