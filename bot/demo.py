"""Offline demo: the bot, a SQLite database with the seeded plan, and the bundled Bot API
stand-in, with two scripted citizens. Prints the conversations as a readable chat."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from bot.config import Settings
from bot.db.engine import Database
from bot.db.models import NotificationKind
from bot.delivery.sender import Sender
from bot.runtime import Deployment, compose, polling, prepare_database
from bot.sandbox import BotApiSandbox
from bot.services import monitoring, outbox
from bot.services.monitoring_remote import today_in_rome
from bot.services.monitoring_sources import RawRecord, read_file
from bot.services.outbox import NewNotification

DEMO_TOKEN = "123456789:PSM-DEMO-TOKEN-offline-sandbox-only"

# Sample content for the demo only (not a real announcement).
DEMO_NEWS = NewNotification(
    kind=NotificationKind.NEWS,
    source_key="demo:rapallo-ciclopedonale",
    template="news",
    payload={
        "title": "Rapallo: presentato il percorso ciclopedonale del Tigullio (esempio)",
        "html": "<p>Un incontro pubblico illustra il progetto e raccoglie i pareri dei "
        "cittadini.</p>",
        "link": "https://pianostrategico.cittametropolitana.genova.it/",
        "source": "Piano Strategico Metropolitano — demo",
    },
    tags=[("comune", "010046"), ("strategy", "S3")],
)


async def run_demo(*, keep_db: str | None = None, out=print) -> int:
    with tempfile.TemporaryDirectory(prefix="psm-bot-demo-") as workdir:
        database = Path(keep_db) if keep_db else Path(workdir) / "demo.sqlite3"
        async with BotApiSandbox(token=DEMO_TOKEN, bot_username="psm_genova_demo_bot") as sandbox:
            settings = Settings(
                telegram_bot_token=DEMO_TOKEN,
                database_url=f"sqlite:///{database}",
                telegram_api_base_url=sandbox.base_url,
            )
            db = await prepare_database(settings)
            try:
                bot = compose(settings, db, Deployment())
                processor = bot.application.update_processor
                sandbox.watch_bot(lambda: processor.current_concurrent_updates > 0)
                async with polling(bot.application, sender=bot.sender, poll_timeout=1):
                    anna, ben = await _play_script(sandbox, db, bot.sender)
            finally:
                await db.dispose()
            out("=" * 72)
            out("psm-bot offline demo — Bot API stand-in at " + sandbox.base_url)
            out("=" * 72)
            for user in (anna, ben):
                out("")
                out(sandbox.render_transcript(user.chat_id))
            sandbox.assert_no_rejections()
            out("")
            out(f"{sandbox.count('sendMessage')} messages sent, every request valid for Bot API.")
    return 0


async def _play_script(sandbox: BotApiSandbox, db: Database, sender: Sender):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    await anna.press("Segui una zona o un comune")
    await anna.press("Tigullio")
    await anna.press("➕ Rapallo")
    await anna.press("➕ Tutta la zona: Tigullio")
    await anna.send("/mysubs")

    # The plan's office publishes news about Rapallo: it reaches Anna through the outbox.
    async with db.transaction() as session:
        await outbox.enqueue(session, DEMO_NEWS)
    sender.wake()
    await sandbox.wait_for(lambda entry: "Rapallo" in (entry.text or ""), new_only=True)
    await anna.press("👍 Utile")
    await _follow_an_action_and_hear_of_its_progress(sandbox, db, sender, anna)

    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await ben.send("/start strategy_S4")
    await ben.press("Follow a strategy")
    await ben.press("➕ S2 · Develop Genoa as a metropolis")
    await ben.send("/stop")
    await ben.press("Yes, stop everything")
    return anna, ben


SAMPLE_MONITORING = Path(__file__).resolve().parent / "data" / "monitoring_sample.yaml"


async def _follow_an_action_and_hear_of_its_progress(sandbox, db, sender, anna) -> None:
    """The plan's monitoring (sample data): /piano, follow an action, then it restarts."""
    records = read_file(SAMPLE_MONITORING)
    await _import_monitoring(db, records, notify=False)
    await anna.send("/piano Rapallo")
    await anna.press(_label_with(anna.last_bot_message, "S4.3"))
    await anna.press("🔔 Segui questa azione")
    restarted = [_restarted(record) if _is("S4.3", record) else record for record in records]
    await _import_monitoring(db, restarted, notify=True)
    sender.wake()
    await sandbox.wait_for(lambda entry: "Lo stato è passato" in (entry.text or ""), new_only=True)


async def _import_monitoring(db: Database, records: list[RawRecord], *, notify: bool) -> None:
    async with db.transaction() as session:
        await monitoring.import_records(session, records, today=today_in_rome(), notify=notify)


def _is(code: str, record: RawRecord) -> bool:
    return record.table == "action" and record.fields.get("code") == code


def _restarted(record: RawRecord) -> RawRecord:
    return replace(record, fields={**record.fields, "status": "in_progress", "progress": 35})


def _label_with(message, text: str) -> str:
    return next(label for row in message.buttons for label, _data in row if text in label)
