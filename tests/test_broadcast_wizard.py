"""/broadcast: compose → audience (with the count) → preview → now or later → confirm, once."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.app import build_sender
from bot.db.models import (
    BroadcastDraft,
    Notification,
    Participant,
    PlanAction,
    Subscriber,
    TargetKind,
    utcnow,
)
from bot.delivery.sender import SenderConfig
from bot.services import broadcasts, outbox, subscriptions
from bot.services.broadcasts import Audience, BroadcastError, Media
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
    assert admin.last_bot_message.text == (
        "Send this broadcast now to 2 recipients?\nChosen: Genova"
    )
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


@pytest.mark.parametrize(
    "step",
    ["text", "audience", "comuni", "actions", "categories", "preview", "time", "confirm"],
)
async def test_cancel_at_each_step_sends_nothing(db, sandbox, running_bot, citizens, step):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/broadcast")
    if step != "text":
        await admin.send("Hello")
        await admin.press("Everyone")
    pages = {
        "comuni": ["Comuni ▸", "Tigullio ▸"],
        "actions": ["Actions ▸"],
        "categories": ["Categories ▸"],
    }
    for label in pages.get(step, []):
        await admin.press(label)
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
    from bot.cli import _parser
    from bot.cli import broadcast as broadcast_cli

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


# --- audiences by comune, action and stakeholder category --------------------------------

RAPALLO = "010046"


@pytest.fixture
async def stakeholders(db, sandbox, citizens):
    """4 follows Rapallo, 5 follows action T1 (of S2), 6 declared the category comune."""
    async with db.transaction() as session:
        session.add(
            PlanAction(
                code="T1",
                strategy_id="S2",
                title_it="Azione di prova",
                title_en="Test action",
                status="planned",
                sample=True,
            )
        )
        await session.flush()
        rows = {}
        for user_id in (4, 5, 6):
            sandbox.user(user_id, language_code="it")
            rows[user_id], _ = await subscriptions.get_or_create_subscriber(
                session, telegram_user_id=user_id, chat_id=user_id, first_name="S", language="it"
            )
        await subscriptions.subscribe(session, rows[4], Target(TargetKind.COMUNE, RAPALLO))
        await subscriptions.subscribe(session, rows[5], Target(TargetKind.ACTION, "T1"))
        session.add(Participant(subscriber_id=rows[6].id, pseudonym="u-cat6", category="comune"))


async def _audience_of_the_last_broadcast(db) -> set[int]:
    async with db.transaction() as session:
        notification = await session.scalar(select(Notification).order_by(Notification.id.desc()))
        query = outbox.recipients_query(notification)
        return (
            {row.id for row in (await session.execute(query)).all()} if query is not None else set()
        )


async def test_categories_narrow_the_audience_and_alone_mean_everyone_of_them(db, stakeholders):
    async with db.transaction() as session:
        count = broadcasts.count_recipients
        assert await count(session, Audience(categories={"comune"})) == 1
        assert await count(session, Audience(everyone=True, categories={"comune"})) == 1
        genova_comuni = Audience(targets={("zone", "genova")}, categories={"comune"})
        assert await count(session, genova_comuni) == 0
        assert await count(session, Audience(targets={("comune", RAPALLO)})) == 1
        assert await count(session, Audience(targets={("action", "T1")})) == 1
    with pytest.raises(BroadcastError):
        Audience().toggle_category("mayors")


async def _send_now_and_deliver(admin, settings, db, sandbox):
    await admin.press("Preview ▶")
    await admin.press("Send now")
    await admin.press("✔ Confirm")
    sender = _sender(settings, db, sandbox)
    async with sender.bot:
        await sender.run_until_idle()


async def test_the_wizard_targets_a_comune_an_action_and_a_category(
    settings, db, sandbox, running_bot, stakeholders
):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/broadcast")
    await admin.send("Consultation on the coast")
    await admin.press("Comuni ▸")
    await admin.press("Tigullio ▸")
    await admin.press("Rapallo")
    screen = admin.last_bot_message
    assert "Chosen: Rapallo" in screen.text and "Recipients: 1" in screen.text
    assert "✅ Rapallo" in [label for row in screen.buttons for label, _ in row]
    await admin.press("◀ Zones")
    assert "Tigullio (1) ▸" in [label for row in admin.last_bot_message.buttons for label, _ in row]
    await admin.press("✔ Done")
    assert "Comuni (1) ▸" in [label for row in admin.last_bot_message.buttons for label, _ in row]
    await admin.press("Actions ▸")
    labels = [label for row in admin.last_bot_message.buttons for label, _ in row]
    (strategy_label,) = [label for label in labels if label.startswith("S2 · ")]
    await admin.press(strategy_label)
    await admin.press("T1 · Test action")
    assert "Recipients: 2" in admin.last_bot_message.text
    await admin.press("✔ Done")
    # A category narrows the chosen followers: none of them declared "comune".
    await admin.press("Categories ▸")
    await admin.press("Comune")
    text = admin.last_bot_message.text
    assert "categories: Comune" in text and "Recipients: 0" in text
    await admin.press("✅ Comune")
    assert "Recipients: 2" in admin.last_bot_message.text
    await _send_now_and_deliver(admin, settings, db, sandbox)
    for user_id in (4, 5):
        assert sandbox.user(user_id).last_bot_message.text.startswith("Consultation on the coast")
    for user_id in (1, 2, 3, 6):
        assert sandbox.user(user_id).last_bot_message is None
    assert await _audience_of_the_last_broadcast(db) == await _subscriber_ids(db, 4, 5)


async def _subscriber_ids(db, *user_ids: int) -> set[int]:
    async with db.transaction() as session:
        query = select(Subscriber.id).where(Subscriber.telegram_user_id.in_(user_ids))
        return set(await session.scalars(query))


async def test_cli_keeps_action_targets_apart_from_list_and_cancel(db, settings, stakeholders):
    # `--action ID` once shared its dest with the positional `list | cancel ID` and was lost,
    # which made a broadcast to one action go to everyone.
    assert await _cli(settings, "--text", "Ciao", "--action", "T1") == 0
    assert await _audience_of_the_last_broadcast(db) == await _subscriber_ids(db, 5)


async def test_a_changed_audience_asks_for_the_preview_again(db, sandbox, running_bot, citizens):
    admin = sandbox.user(ADMIN, language_code="en")
    await _compose_for_genova(admin)
    await admin.press("Preview ▶")
    await admin.press("Send now")
    confirmation = admin.last_bot_message.message_id
    audience_screen = [m for m in admin.bot_messages if "Recipients:" in (m.text or "")][-1]
    await admin.press("S1", message_id=audience_screen.message_id)
    await admin.press("✔ Confirm", message_id=confirmation, expect_reply=False)
    assert admin.callback_answers[-1].text == "The audience changed: press Preview again."
    async with db.transaction() as session:
        assert list(await session.scalars(select(Notification))) == []


async def test_forged_audience_buttons_change_nothing(db, sandbox, running_bot, citizens):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/broadcast")
    await admin.send("Hello")
    async with db.transaction() as session:
        (draft,) = await session.scalars(select(BroadcastDraft))
    for data in (
        f"bc:{draft.token}:c:999999",
        f"bc:{draft.token}:a:NOPE",
        f"bc:{draft.token}:k:mayors",
    ):
        await admin.press_data(data, expect_reply=False)
        assert admin.callback_answers[-1].text == "This button is no longer valid."
    async with db.transaction() as session:
        (draft,) = await session.scalars(select(BroadcastDraft))
    assert broadcasts.audience_of(draft).is_empty()


async def test_a_preview_needs_an_audience(db, sandbox, running_bot, citizens):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/broadcast")
    await admin.send("Hello")
    await admin.press("Preview ▶", expect_reply=False)
    assert admin.callback_answers[-1].text == "Choose an audience first."
    assert "Recipients: 0" in admin.last_bot_message.text


# --- photos and documents ----------------------------------------------------------------


async def test_a_photo_broadcast_is_previewed_and_delivered_as_a_photo(
    settings, db, sandbox, running_bot, citizens
):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/broadcast")
    await admin.send_photo(caption="The new cycle path in Sestri")
    assert "Audience" in admin.last_bot_message.text
    await admin.press("Genova")
    await admin.press("Preview ▶")
    preview, question = admin.bot_messages[-2:]
    assert (preview.kind, preview.caption) == ("photo", "The new cycle path in Sestri")
    assert question.text == "Above is the preview, as recipients will see it."
    await admin.press("Send now")
    await admin.press("✔ Confirm")
    sender = _sender(settings, db, sandbox)
    async with sender.bot:
        await sender.run_until_idle()
    (received,) = sandbox.user(2).bot_messages
    assert (received.kind, received.caption) == ("photo", "The new cycle path in Sestri")
    assert received.buttons[0][0][0] == "👍 Useful"
    assert sandbox.user(3).last_bot_message is None


async def test_a_document_with_a_long_text_goes_first_and_the_text_follows(
    settings, db, sandbox, citizens
):
    stored = sandbox.world.files.add_document("agenda.pdf", b"%PDF-1.4 agenda")
    long_text = "<b>Agenda</b>\n" + "Punto all'ordine del giorno. " * 80  # over 1024
    async with db.transaction() as session:
        await broadcasts.enqueue(
            session,
            "feedface",
            long_text,
            Audience(targets={("strategy", "S1")}),
            media=Media("document", stored.file_id, "agenda.pdf"),
        )
    sender = _sender(settings, db, sandbox)
    async with sender.bot:
        await sender.run_until_idle()
    document, text = sandbox.user(3).bot_messages
    assert (document.kind, document.file_name, document.caption) == ("document", "agenda.pdf", None)
    assert document.buttons == []
    assert text.text.startswith("Agenda\nPunto all'ordine del giorno.")
    assert text.buttons[0][0][0] == "👍 Utile"


async def test_a_document_can_compose_a_broadcast_instead_of_being_imported(
    db, sandbox, running_bot, citizens
):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/broadcast")
    await admin.send_document("actions.csv", b"code,title\n", caption="The data, as promised")
    assert "Audience" in admin.last_bot_message.text
    async with db.transaction() as session:
        (draft,) = await session.scalars(select(BroadcastDraft))
    assert (draft.media_kind, draft.media_file_name) == ("document", "actions.csv")
    assert draft.html == "The data, as promised"


# --- drafts survive a restart ------------------------------------------------------------


async def test_a_draft_survives_a_restart_of_the_bot(settings, db, sandbox, citizens):
    from bot.runtime import polling
    from tests.conftest import compose_against

    def application():
        return compose_against(sandbox, settings, db).application

    admin = sandbox.user(ADMIN, language_code="en")
    async with polling(application(), poll_timeout=1):
        await _compose_for_genova(admin)
    async with polling(application(), poll_timeout=1):
        await admin.press("Preview ▶")
        assert admin.bot_messages[-2].text == "Public meeting on Thursday"
        await admin.press("Send now")
        await admin.press("✔ Confirm")
    async with db.transaction() as session:
        (notification,) = await session.scalars(select(Notification))
        assert await session.scalar(select(func.count()).select_from(BroadcastDraft)) == 0
    assert notification.payload["html"] == "Public meeting on Thursday"


async def test_an_old_draft_expires_and_a_new_broadcast_replaces_the_draft(db):
    now = utcnow()
    async with db.transaction() as session:
        first = await broadcasts.start_draft(session, ADMIN, now)
        second = await broadcasts.start_draft(session, ADMIN, now)
    async with db.transaction() as session:
        assert (await broadcasts.load_draft(session, ADMIN, now)).token == second.token
        assert first.token != second.token
        later = now + broadcasts.DRAFT_VALIDITY + timedelta(minutes=1)
        assert await broadcasts.load_draft(session, ADMIN, later) is None


async def test_cli_targets_categories_and_sends_a_photo_by_url(db, settings, stakeholders, capsys):
    photo = "https://www.cittametropolitana.genova.it/immagini/incontro.jpg"
    argv = ["--text", "Ai comuni", "--category", "comune", "--photo", photo]
    assert await _cli(settings, *argv) == 0
    assert capsys.readouterr().out.endswith(": 1 recipients, now\n")
    async with db.transaction() as session:
        (sent,) = await session.scalars(select(Notification))
    assert (sent.categories, sent.everyone) == (["comune"], True)
    assert sent.payload["media"] == {"kind": "photo", "file_id": photo, "file_name": "incontro.jpg"}
    with pytest.raises(SystemExit) as bad_category:
        await _cli(settings, "--text", "x", "--category", "mayors")
    assert bad_category.value.code == 2
    assert await _cli(settings, "--document", "pyproject.toml") == 2
    assert "give an https URL or a Telegram file id" in capsys.readouterr().err
