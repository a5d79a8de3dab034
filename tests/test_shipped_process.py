"""The shipped composition as a real process: `python -m bot run` on a SQLite file, its
TELEGRAM_API_BASE_URL at the stand-in, driven over HTTP as citizens and staff use it.

One process serves the whole module (it is restarted once, as an operator would); each test
uses its own people, so the tests do not depend on one another's outcome.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from openpyxl import Workbook
from sqlalchemy import func, select

from bot.config import TIMEZONE
from bot.db.engine import Database
from bot.db.models import PlanAction, Subscription
from bot.sandbox import BotApiSandbox
from tests.conftest import TEST_TOKEN, eventually
from tests.feed_server import PROXY_VARIABLES, FeedServer, Item
from tests.processes import ROOT
from tests.test_edit_in_place import take_the_not_modified_answer
from tests.test_web import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

STAFF = 7001
SLOW = 60.0  # generous: the machine may be busy; nothing here is timed


@dataclass
class ShippedBot:
    """The real process, the stand-in it talks to, and its database file."""

    sandbox: BotApiSandbox
    feeds: FeedServer
    database_url: str
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    runs: int = 0

    @property
    def env(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
        return {
            **inherited,
            "DATABASE_URL": self.database_url,
            "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
            "TELEGRAM_API_BASE_URL": self.sandbox.base_url,
            "ADMIN_IDS": str(STAFF),
            "PORT": str(self.port),
            "LISTEN": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }

    async def start(self) -> None:
        self.runs += 1
        self.stderr = (self.log_dir / f"run-{self.runs}.log").open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT, env=self.env, stderr=self.stderr
        )
        await self.wait_healthy()

    async def wait_healthy(self) -> None:
        async def healthy():
            try:
                return (await self.get("/healthz"))[0] == 200
            except aiohttp.ClientError:
                return False

        assert await eventually(healthy, timeout=SLOW, interval=0.2), self.log()

    async def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), timeout=SLOW)
        self.stderr.close()
        assert self.process.returncode == 0, self.log()
        assert "Traceback" not in self.log(), self.log()

    def log(self) -> str:
        return (self.log_dir / f"run-{self.runs}.log").read_text(errors="replace")

    async def get(self, path: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as client,
            client.get(f"http://127.0.0.1:{self.port}{path}") as response,
        ):
            return response.status, await response.text()

    async def cli(self, *args: str) -> str:
        """`python -m bot ARGS` beside the running process, as an operator runs it."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, errors = await asyncio.wait_for(process.communicate(), timeout=SLOW)
        assert process.returncode == 0, errors.decode()
        return out.decode()

    async def count(self, model, *where) -> int:
        db = Database(self.database_url)
        try:
            async with db.transaction() as session:
                return await session.scalar(select(func.count()).select_from(model).where(*where))
        finally:
            await db.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shipped(tmp_path_factory):
    directory = tmp_path_factory.mktemp("shipped")
    async with (
        BotApiSandbox(token=TEST_TOKEN, bot_username="psm_test_bot", reply_timeout=SLOW) as sandbox,
        FeedServer.running() as feeds,
    ):
        bot = ShippedBot(sandbox, feeds, f"sqlite:///{directory / 'bot.sqlite3'}", directory)
        await bot.start()
        try:
            yield bot
        finally:
            await bot.stop()
        sandbox.assert_no_rejections()


async def test_a_citizen_subscribes_and_a_double_tap_is_answered_calmly(shipped):
    anna = shipped.sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    assert "Ti diamo il benvenuto, Anna!" in anna.last_bot_message.text
    await anna.press("Segui una zona o un comune")
    await anna.press("Tigullio")
    await anna.double_press("➕ Rapallo")
    await anna.send("/mysubs")  # updates are handled in order: both presses are done
    take_the_not_modified_answer(shipped.sandbox)
    answers = [entry.text or "" for entry in anna.callback_answers]
    assert not any("storto" in text for text in answers), answers
    assert not any("storto" in (m.text or "") for m in anna.bot_messages)
    assert await shipped.count(Subscription) == 1
    # The shipped process counts updates in a handler group of its own.
    status, metrics = await shipped.get("/metrics")
    assert status == 200 and 'psm_updates_total{kind="callback_query"}' in metrics


NEWS_HTML = (
    "<p>La Conferenza metropolitana ha approvato l'aggiornamento.</p>"
    "<p>Le schede delle azioni sono online.</p>"
)


async def test_a_news_item_reaches_its_follower_with_its_paragraphs(shipped):
    bruno = shipped.sandbox.user(1002, first_name="Bruno", language_code="it")
    await bruno.send("/start zone_genova")
    news = Item(
        guid="psm-news-1",
        title="Aggiornamento del Piano",
        description=NEWS_HTML,
        link="https://www.cittametropolitana.genova.it/it/news/1",
        published=datetime.now(UTC),
    )
    url = shipped.feeds.serve("/notizie.xml", [news])
    await shipped.cli("feeds", "add", url, "--backlog", "1", "--zone", "genova")
    await shipped.cli("feeds", "poll")
    entry = await shipped.sandbox.wait_for(
        lambda e: e.chat_id == bruno.chat_id and "Aggiornamento del Piano" in (e.text or ""),
        timeout=SLOW,
    )
    paragraphs = entry.text.split("\n\n")
    assert "La Conferenza metropolitana ha approvato l'aggiornamento." in paragraphs
    assert "Le schede delle azioni sono online." in paragraphs


def spreadsheet(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "actions"
    sheet.append(["code", "strategy", "title_it", "title_en", "status", "progress"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def test_staff_upload_a_spreadsheet_check_it_first_and_get_problems_explained(shipped):
    staff = shipped.sandbox.user(STAFF, first_name="Ufficio", language_code="it")
    good = spreadsheet(
        [["S3.9", "S3", "Ciclovia del Tigullio", "Tigullio cycle path", "planned", 0]]
    )
    await staff.send_document("azioni.xlsx", good, caption="prova", mime_type=XLSX)
    assert staff.last_bot_message.text.startswith("Verifica di azioni.xlsx")
    assert await shipped.count(PlanAction) == 0

    await staff.send_document("azioni.xlsx", good, mime_type=XLSX)
    assert staff.last_bot_message.text.startswith("Importato azioni.xlsx")
    assert await shipped.count(PlanAction, PlanAction.code == "S3.9") == 1

    bad = spreadsheet([["S3.10", "S3", "Azione", "Action", "in corso forse", 120]])
    await staff.send_document("azioni.xlsx", bad, mime_type=XLSX)
    problems = staff.last_bot_message.text
    assert problems.startswith("Non è stato importato nulla"), problems
    assert "riga 2" in problems
    assert await shipped.count(PlanAction, PlanAction.code == "S3.10") == 0


async def test_a_broadcast_to_one_zone_reaches_only_that_zone(shipped):
    inside = shipped.sandbox.user(1004, first_name="Carla", language_code="en")
    outside = shipped.sandbox.user(1005, first_name="Dario", language_code="en")
    await inside.send("/start zone_golfo_paradiso")
    await outside.send("/start zone_entella")
    staff = shipped.sandbox.user(STAFF, first_name="Ufficio", language_code="it")
    await staff.send("/broadcast")
    await staff.send("Assemblea pubblica a Recco\n\ngiovedì alle 18")
    await staff.press("Golfo Paradiso")
    await staff.press("Anteprima ▶")
    await staff.press("Invia ora")
    await staff.press("✔ Conferma")
    entry = await shipped.sandbox.wait_for(
        lambda e: e.chat_id == inside.chat_id and "Assemblea pubblica" in (e.text or ""),
        timeout=SLOW,
    )
    assert entry.text.startswith("Assemblea pubblica a Recco\n\ngiovedì alle 18")
    await asyncio.sleep(1)  # what would reach the other zone has had its chance
    assert not any("Assemblea" in (m.text or "") for m in outside.bot_messages)


async def test_an_event_with_rsvp_gets_its_reminder_after_a_restart(shipped):
    citizen = shipped.sandbox.user(1006, first_name="Elena", language_code="it")
    await citizen.send("/start zone_tigullio")
    staff = shipped.sandbox.user(STAFF, first_name="Ufficio", language_code="it")
    starts = datetime.now(UTC) + timedelta(minutes=50)
    local = starts.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")
    await staff.send(f"/newevent {local} | Incontro del Tigullio | Chiavari | zone=tigullio")
    await shipped.sandbox.wait_for(
        lambda e: e.chat_id == citizen.chat_id and "Incontro del Tigullio" in (e.text or ""),
        timeout=SLOW,
    )
    await citizen.press("✅ Parteciperò", expect_reply=False)

    async def answered():
        return citizen.callback_answers

    assert "Parteciperai." in (await eventually(answered, timeout=SLOW))[-1].text
    # A restart in between: the reminder is the restarted process's job.
    await shipped.stop()
    await shipped.start()
    reminder = await shipped.sandbox.wait_for(
        lambda e: e.chat_id == citizen.chat_id and "Promemoria" in (e.text or ""),
        timeout=SLOW + 60,
    )
    assert "tra un'ora" in reminder.text and "domani" not in reminder.text
    reminders = [m for m in citizen.bot_messages if "Promemoria" in (m.text or "")]
    assert len(reminders) == 1
