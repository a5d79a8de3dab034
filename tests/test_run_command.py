"""`python -m bot run` as a real process: updates answered, notifications sent, health served,
SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp

from bot.db.models import NotificationKind, TargetKind
from bot.services import outbox, subscriptions
from bot.services.outbox import NewNotification
from bot.services.subscriptions import Target
from tests.conftest import TEST_TOKEN
from tests.processes import ROOT
from tests.test_web import free_port


async def test_the_run_command_serves_sends_and_stops_on_sigterm(database_url, db, sandbox):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    async with db.transaction() as session:
        row, _ = await subscriptions.get_or_create_subscriber(
            session, telegram_user_id=1001, chat_id=1001, first_name="Anna", language="it"
        )
        await subscriptions.subscribe(session, row, Target(TargetKind.ZONE, "genova"))
        await outbox.enqueue(
            session,
            NewNotification(
                kind=NotificationKind.BROADCAST,
                source_key="run-test",
                template="text",
                payload={"html": "Assemblea dei sindaci: convocazione"},
                tags=[("zone", "genova")],
            ),
        )
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE_URL": sandbox.base_url,
        "PORT": str(port),
        "LISTEN": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await sandbox.wait_for(lambda e: "Assemblea dei sindaci" in (e.text or ""), timeout=30)
        await anna.send("/help")
        assert "/iscrizioni" in anna.last_bot_message.text  # Italian help, Italian commands
        async with (
            aiohttp.ClientSession() as client,
            client.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 200
            assert (await response.json())["sender"] == "running"
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, errors.decode()
    assert "Traceback" not in errors.decode()
