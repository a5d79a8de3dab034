"""/broadcast: compose → audience (with the count) → preview → now or later → confirm, once."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import build_sender
from bot.db.models import Notification, TargetKind, utcnow
from bot.delivery.sender import SenderConfig
from bot.services import broadcasts, subscriptions
from bot.services.broadcasts import Audience
from bot.services.subscriptions import Target
from tests.conftest import eventually

ADMIN = 4242


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


@pytest.fixture
async def citizens(db, sandbox):
    """1 and 2 follow Genova (Italian, English); 3 follows strategy S1 (Italian)."""
    follows = {
        1: ("it", Target(TargetKind.ZONE, "genova")),
        2: ("en", Target(TargetKind.ZONE, "genova")),
        3: ("it", Target(TargetKind.STRATEGY, "S1")),
    }
    async with db.transaction() as session:
        for user_id, (language, target) in follows.items():
            sandbox.user(user_id, language_code=language)
            row, _ = await subscriptions.get_or_create_subscriber(
                session,
                telegram_user_id=user_id,
                chat_id=user_id,
                first_name="U",
                language=language,
            )
            await subscriptions.subscribe(session, row, target)


def _sender(settings, db, sandbox):
    return build_sender(
        settings,
        db,
        base_url=sandbox.base_url,
        config=SenderConfig(messages_per_second=None, per_chat_interval_s=None),
    )


async def test_recipients_are_counted_with_the_outbox_rules(db, citizens):
    async with db.transaction() as session:
        assert await broadcasts.count_recipients(session, Audience(everyone=True)) == 3
        genova = Audience(targets={("zone", "genova")})
        assert await broadcasts.count_recipients(session, genova) == 2
        genova.language = "en"
        assert await broadcasts.count_recipients(session, genova) == 1
        assert await broadcasts.count_recipients(session, Audience()) == 0


async def _compose_for_genova(admin):
    await admin.send("/broadcast")
    assert "New broadcast" in admin.last_bot_message.text
    await admin.send("Public meeting on Thursday")
    assert "Recipients: 0" in admin.last_bot_message.text
    await admin.press("Genova")
    assert "Recipients: 2" in admin.last_bot_message.text


async def test_the_wizard_sends_once_with_progress(settings, db, sandbox, running_bot, citizens):
    admin = sandbox.user(ADMIN, language_code="en")
    await _compose_for_genova(admin)
    await admin.press("Preview ▶")
    texts = [m.text for m in admin.bot_messages]
    assert texts[-2] == "Public meeting on Thursday"
    assert texts[-1] == "Above is the preview, as recipients will see it."
    await admin.press("Send now")
    assert admin.last_bot_message.text == "Send this broadcast now to 2 recipients?"
    confirmation = admin.last_bot_message.message_id
    await admin.press("✔ Confirm")
    sender = _sender(settings, db, sandbox)
    async with sender.bot:
        await sender.run_until_idle()
    assert sandbox.user(1).last_bot_message.text.startswith("Public meeting on Thursday")
    assert sandbox.user(3).last_bot_message is None

    async def finished():
        text = admin.bot_messages[-1].text
        return "2/2 delivered" in text and text

    assert await eventually(finished, timeout=10)
    # A stale confirmation button: nothing more is enqueued.
    async with db.transaction() as session:
        (sent,) = await session.scalars(select(Notification))
    token = sent.source_key.removeprefix(broadcasts.SOURCE_PREFIX)
    await admin.press_data(f"bc:{token}:go", message_id=confirmation, expect_reply=False)
    assert "already been confirmed" in admin.callback_answers[-1].text
    async with db.transaction() as session:
        assert len(list(await session.scalars(select(Notification)))) == 1


@pytest.mark.parametrize("step", ["text", "audience", "preview", "time", "confirm"])
async def test_cancel_at_each_step_sends_nothing(db, sandbox, running_bot, citizens, step):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/broadcast")
    if step != "text":
        await admin.send("Hello")
        await admin.press("Everyone")
    if step in ("preview", "time", "confirm"):
        await admin.press("Preview ▶")
    if step in ("time", "confirm"):
        await admin.press("Schedule")
    if step == "confirm":
        await admin.send("2099-12-01 09:00")
        assert admin.last_bot_message.text.startswith("Schedule this broadcast for")
    await admin.press("✖ Cancel")
    assert admin.last_bot_message.text == "Broadcast cancelled."
    await admin.send("Some other text", expect_reply=False)
    async with db.transaction() as session:
        assert list(await session.scalars(select(Notification))) == []


async def test_a_scheduled_broadcast_fires_once_and_can_be_cancelled(
    settings, db, sandbox, running_bot, citizens
):
    admin = sandbox.user(ADMIN, language_code="en")
    await _compose_for_genova(admin)
    await admin.press("Preview ▶")
    await admin.press("Schedule")
    await admin.send("yesterday")
    assert "future date and time" in admin.last_bot_message.text
    await admin.send("2099-12-01 09:00")
    await admin.press("✔ Confirm")
    assert admin.last_bot_message.text.startswith("Broadcast #")
    await admin.send("/scheduled")
    assert "Scheduled broadcasts" in admin.last_bot_message.text
    sender = _sender(settings, db, sandbox)
    async with sender.bot:
        await sender.run_until_idle()
        assert sandbox.user(1).last_bot_message is None
        sender.clock = lambda: datetime(2099, 12, 1, 8, 1, tzinfo=UTC)
        await sender.run_until_idle()
        await sender.run_until_idle()
    assert [m.text for m in sandbox.user(1).bot_messages] == ["Public meeting on Thursday"]
    assert len(sandbox.user(2).bot_messages) == 1


async def test_staff_cancel_a_scheduled_broadcast(db, sandbox, running_bot, citizens):
    later = datetime.now(UTC) + timedelta(days=1)
    async with db.transaction() as session:
        await broadcasts.enqueue(session, "0123abcd", "Hi", Audience(everyone=True), later)
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/scheduled")
    (label, _data), *_rest = admin.last_bot_message.buttons[0]
    assert label.startswith("✖ Cancel #")
    await admin.press(label)
    assert admin.last_bot_message.text == "No broadcast is scheduled."
    async with db.transaction() as session:
        assert await broadcasts.scheduled(session, utcnow()) == []


async def _cli(settings, *argv: str) -> int:
    from bot import broadcast_cli
    from bot.__main__ import _parser

    return await broadcast_cli.run(_parser().parse_args(["broadcast", *argv]), settings)


async def test_cli_sends_schedules_lists_and_cancels(db, settings, citizens, capsys):
    assert await _cli(settings, "--text", "Ciao", "--zone", "genova", "--language", "en") == 0
    assert capsys.readouterr().out.endswith(": 1 recipients, now\n")
    at = ["--at", "2099-12-01 09:00"]
    assert await _cli(settings, "--text", "Later", "--strategy", "s1", *at) == 0
    scheduled_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert await _cli(settings, "list") == 0
    assert capsys.readouterr().out.startswith(f"{scheduled_id}  2099-12-01 09:00  Later")
    assert await _cli(settings, "--text", "Past", "--at", "2001-01-01 09:00") == 2
    assert await _cli(settings, "cancel", scheduled_id) == 0
    assert await _cli(settings, "cancel", scheduled_id) == 2
    async with db.transaction() as session:
        (sent,) = await session.scalars(select(Notification).where(Notification.id != 0))
    assert (sent.language, [(t.target_kind, t.target_id) for t in sent.tags]) == (
        "en",
        [("zone", "genova")],
    )
