"""Staff manage events from Telegram: /event list [all], /event change, /event cancel."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from bot.app import build_sender
from bot.db.models import (
    Event,
    Notification,
    RsvpAnswer,
    StaffAction,
    Subscriber,
    TargetKind,
)
from bot.delivery.sender import SenderConfig
from bot.i18n import format_datetime, use_locale
from bot.services import event_input, events, staff, subscriptions
from bot.services.event_input import EventChange, EventUsageError
from bot.services.events import EventDraft, EventError
from bot.services.subscriptions import Target
from tests.test_events import recipients

ADMIN = 4242
REFUSED = "This command is reserved to the staff of the plan's office."
FAST = SenderConfig(
    messages_per_second=None, per_chat_interval_s=None, retry_base_s=0.05, idle_sleep_s=0.05
)
# 17:30 in Rome on 3 December 2026 (16:30 UTC).
MEETING_AT = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


# --- parsing (pure) ----------------------------------------------------------------------------


def meeting_draft(**changes) -> EventDraft:
    draft = EventDraft(
        title_it="Incontro del Tigullio",
        starts_at=MEETING_AT,
        ends_at=MEETING_AT + timedelta(hours=2),
        place="Chiavari",
    )
    return dataclasses.replace(draft, **changes)


def test_list_and_cancel_lines():
    parse = event_input.parse_event_command
    assert parse("") == event_input.EventCommand("list")
    assert parse(" list ") == event_input.EventCommand("list")
    assert parse("list all") == event_input.EventCommand("list", show_all=True)
    assert parse("cancel 12") == event_input.EventCommand("cancel", event_id=12)
    for bad in ("frobnicate", "list everything", "cancel", "cancel x", "cancel 1 2", "cancel ²"):
        with pytest.raises(EventUsageError):
            parse(bad)
    with pytest.raises(EventUsageError):
        parse("cancel 12345678901234567890")  # beyond a database integer


def test_change_lines_leave_empty_parts_as_they_are():
    parse = event_input.parse_event_command
    moved = parse("change 7 | 2026-12-04 18:00 | Rapallo")
    assert (moved.action, moved.event_id) == ("change", 7)
    assert moved.change == EventChange(
        starts_at=datetime(2026, 12, 4, 17, 0, tzinfo=UTC), place="Rapallo"
    )
    assert parse("change 7 | | Rapallo").change == EventChange(place="Rapallo")
    assert parse("change 7 | 2026-12-04 18:00").change.place is None
    assert parse("change 7 | | | end=19:45").change == EventChange(end="19:45")
    assert parse("change 7 | end=19:45").change == EventChange(end="19:45")
    with_end = parse("change 7 | 2026-12-04 18:00 end=20:00 | Sala Ghio").change
    assert (with_end.end, with_end.place) == ("20:00", "Sala Ghio")
    for bad in (
        "change",
        "change 7",
        "change 7 | |",
        "change x | 2026-12-04 18:00",
        "change 7 | 2026-12-04 18:00 | Rapallo | more",
        "change 7 | end=",
        "change 7 | end=19:00 end=20:00",
    ):
        with pytest.raises(EventUsageError):
            parse(bad)
    with pytest.raises(EventError, match="not a date and time"):
        parse("change 7 | tomorrow | Rapallo")


def test_a_moved_event_keeps_its_length_unless_given_an_end():
    draft = meeting_draft()
    later = MEETING_AT + timedelta(days=1)
    moved = event_input.changed_draft(draft, EventChange(starts_at=later))
    assert (moved.starts_at, moved.ends_at, moved.place) == (
        later,
        later + timedelta(hours=2),
        "Chiavari",
    )
    assert event_input.differences(draft, moved) == ["time"]
    shorter = event_input.changed_draft(draft, EventChange(end="18:30"))
    assert shorter.ends_at == MEETING_AT + timedelta(hours=1)  # 18:30 Rome on the same day
    placed = event_input.changed_draft(draft, EventChange(place="Rapallo"))
    assert event_input.differences(draft, placed) == ["place"]
    assert event_input.differences(draft, event_input.changed_draft(draft, EventChange())) == []
    no_end = event_input.changed_draft(meeting_draft(ends_at=None), EventChange(starts_at=later))
    assert no_end.ends_at is None
    with pytest.raises(EventError):
        event_input.changed_draft(draft, EventChange(end="25:00"))


# --- through the bot ---------------------------------------------------------------------------


@pytest.fixture
def make_sender(settings, db, sandbox):
    def make():
        return build_sender(
            settings,
            db,
            base_url=sandbox.base_url,
            base_file_url=sandbox.base_file_url,
            config=FAST,
        )

    return make


async def send_all(sender) -> None:
    async with sender.bot:
        await sender.run_until_idle(wait_s=5.0)


async def follower(db, sandbox, user_id: int, *zones: str) -> Subscriber:
    sandbox.user(user_id, first_name=f"U{user_id}", language_code="it")
    async with db.transaction() as session:
        row, _ = await subscriptions.get_or_create_subscriber(
            session, telegram_user_id=user_id, chat_id=user_id, first_name="U", language="it"
        )
        for zone in zones:
            await subscriptions.subscribe(session, row, Target(TargetKind.ZONE, zone))
    return row


def soon(days: int) -> datetime:
    """A whole minute some days from now, so that the bot's clock sees it as upcoming."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(second=0, microsecond=0)


def evening(days: int) -> datetime:
    """17:30 in Rome some days from today."""
    day = (datetime.now(UTC) + timedelta(days=days)).astimezone(event_input.TIMEZONE).date()
    return datetime.combine(day, time(17, 30), event_input.TIMEZONE).astimezone(UTC)


def rome(moment: datetime) -> str:
    return moment.astimezone(event_input.TIMEZONE).strftime("%Y-%m-%d %H:%M")


async def create(db, starts_at: datetime, **changes) -> int:
    draft = EventDraft(
        title_it="Incontro del Tigullio",
        title_en="Tigullio meeting",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        place="Chiavari",
        zones=("tigullio",),
    )
    async with db.transaction() as session:
        event = await events.create(session, dataclasses.replace(draft, **changes), starts_at)
        return event.id


async def rsvp(db, subscriber: Subscriber, event_id: int, answer: RsvpAnswer) -> None:
    async with db.transaction() as session:
        row = await session.get(Subscriber, subscriber.id)
        await events.answer_rsvp(session, row, event_id, answer, datetime.now(UTC))


async def audit_rows(db) -> list[tuple[int, str, dict]]:
    async with db.transaction() as session:
        rows = await session.scalars(select(StaffAction).order_by(StaffAction.id))
        return [(row.actor_id, row.action, row.details) for row in rows]


async def test_list_shows_upcoming_events_with_counts_and_all_shows_the_rest(
    db, sandbox, running_bot
):
    upcoming_at = soon(5)
    upcoming = await create(db, upcoming_at)
    later = await create(db, soon(9), title_it="Revisione annuale", title_en="Annual review")
    past = await create(db, soon(-30), title_it="Incontro passato", title_en="Past meeting")
    dropped = await create(db, soon(7), title_it="Annullato", title_en="Dropped meeting")
    async with db.transaction() as session:
        await events.cancel(session, await events.get(session, dropped), datetime.now(UTC))
    for user_id, answer in ((1, RsvpAnswer.YES), (2, RsvpAnswer.YES), (3, RsvpAnswer.MAYBE)):
        await rsvp(db, await follower(db, sandbox, user_id), upcoming, answer)
    await rsvp(db, await follower(db, sandbox, 4), later, RsvpAnswer.NO)

    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/event list")
    text = admin.last_bot_message.text
    lines = text.splitlines()
    assert lines[0] == "Upcoming events"
    with use_locale("en"):
        when = format_datetime(upcoming_at, "EEE d MMM y, HH:mm")
    assert lines[1] == (
        f"#{upcoming} · {when} · Tigullio meeting · scheduled · yes 2 · maybe 1 · no 0"
    )
    assert lines[2].startswith(f"#{later} · ") and lines[2].endswith("yes 0 · maybe 0 · no 1")
    assert len(lines) == 3  # neither the past nor the cancelled event

    await admin.send("/evento list all")
    text = admin.last_bot_message.text
    assert text.splitlines()[0] == "All events"
    assert [line.split(" · ")[0] for line in text.splitlines()[1:]] == [
        f"#{event_id}" for event_id in (past, upcoming, dropped, later)
    ]
    assert "Dropped meeting · cancelled" in text and "Past meeting · scheduled" in text

    italian = sandbox.user(ADMIN + 1, language_code="it")
    async with db.transaction() as session:
        await staff.grant(session, ADMIN, ADMIN + 1, datetime.now(UTC))
    await italian.send("/evento")
    assert "Incontro del Tigullio" in italian.last_bot_message.text  # titles in their language


async def test_nothing_to_list(sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/event")
    assert admin.last_bot_message.text == (
        "There are no upcoming events. Publish one with /newevent."
    )
    await admin.send("/event list all")
    assert admin.last_bot_message.text == "No event has been published yet."


async def test_a_change_is_notified_to_followers_and_respondents_and_audited(
    db, sandbox, running_bot, make_sender
):
    await follower(db, sandbox, 1, "tigullio")
    respondent = await follower(db, sandbox, 2)  # follows nothing, answered "maybe"
    await follower(db, sandbox, 3, "ponente")  # not concerned
    admin = sandbox.user(ADMIN, language_code="en")
    starts = evening(4)
    await admin.send(f"/newevent {rome(starts)} | Incontro del Tigullio | Chiavari | zone=tigullio")
    assert "published" in admin.bot_messages[-2].text
    async with db.transaction() as session:
        (event,) = await events.list_events(session)
        event_id = event.id
    await rsvp(db, respondent, event_id, RsvpAnswer.MAYBE)
    await send_all(make_sender())  # the announcement

    moved = starts + timedelta(days=1)
    await admin.send(f"/event change {event_id} | {rome(moved)} | Rapallo, Villa Tigullio")
    answer = admin.last_bot_message.text
    lines = answer.splitlines()
    assert lines[0] == f"Event #{event_id} changed: Incontro del Tigullio"
    with use_locale("en"):
        old, new = (format_datetime(moment, "EEEE d MMMM y, HH:mm") for moment in (starts, moved))
    assert lines[1] == f"🕒 {old} → {new}"
    assert lines[2] == "📍 Chiavari → Rapallo, Villa Tigullio"
    assert lines[3] == "Its followers and whoever answered are being told."
    assert await recipients(db, f"event:{event_id}:update:1") == [1, 2]

    await send_all(make_sender())
    for user_id in (1, 2):
        message = sandbox.user(user_id).last_bot_message.text
        assert "Evento modificato" in message and "Rapallo, Villa Tigullio" in message
    assert not any("modificato" in m.text for m in sandbox.user(3).bot_messages)

    await admin.send(f"/event change {event_id} | {rome(moved)} | Rapallo, Villa Tigullio")
    assert admin.last_bot_message.text == f"Event #{event_id}: nothing changed."
    await admin.send(f"/event change {event_id} | | | end=17:00")
    assert "ends before it starts" in admin.last_bot_message.text
    await admin.send(f"/event change {event_id} | end=23:00")
    assert admin.last_bot_message.text.startswith(f"Event #{event_id} changed")
    async with db.transaction() as session:
        event = await events.get(session, event_id)
        assert (event.starts_at, event.place, event.status) == (
            moved,
            "Rapallo, Villa Tigullio",
            "changed",
        )
        assert event.ends_at.astimezone(event_input.TIMEZONE).strftime("%H:%M") == "23:00"

    assert await audit_rows(db) == [
        (ADMIN, "event_create", {"event_id": event_id}),
        (ADMIN, "event_change", {"event_id": event_id, "changed": ["time", "place"]}),
        (ADMIN, "event_change", {"event_id": event_id, "changed": ["time"]}),
    ]


async def test_cancel_is_notified_and_audited_and_twice_is_harmless(
    db, sandbox, running_bot, make_sender
):
    await follower(db, sandbox, 1, "tigullio")
    respondent = await follower(db, sandbox, 2)
    event_id = await create(db, soon(3))
    await rsvp(db, respondent, event_id, RsvpAnswer.YES)
    admin = sandbox.user(ADMIN, language_code="en")

    await admin.send(f"/evento cancel {event_id}")
    assert admin.last_bot_message.text == (
        f"Event #{event_id} cancelled: Tigullio meeting\n"
        "Its followers and whoever answered are being told."
    )
    await admin.send(f"/event cancel {event_id}")
    assert admin.last_bot_message.text == (
        f"Event #{event_id} was already cancelled: Tigullio meeting"
    )
    await admin.send(f"/event change {event_id} | | Rapallo")
    assert admin.last_bot_message.text == (
        f"Event #{event_id} was cancelled: it cannot be changed."
    )
    assert await recipients(db, f"event:{event_id}:cancel") == [1, 2]
    await send_all(make_sender())
    for user_id in (1, 2):
        assert "Evento annullato" in sandbox.user(user_id).last_bot_message.text
    async with db.transaction() as session:
        event = await session.get(Event, event_id)
        assert (event.status, event.place) == ("cancelled", "Chiavari")
    assert await audit_rows(db) == [(ADMIN, "event_cancel", {"event_id": event_id})]


async def test_a_past_event_changes_without_telling_anyone(db, sandbox, running_bot):
    await follower(db, sandbox, 1, "tigullio")
    event_id = await create(db, soon(-2))
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send(f"/event change {event_id} | | Rapallo")
    assert admin.last_bot_message.text.endswith("Nobody is told: the event is in the past.")
    await admin.send(f"/event cancel {event_id}")
    assert admin.last_bot_message.text.endswith("Nobody is told: the event is in the past.")
    async with db.transaction() as session:
        assert (await session.get(Event, event_id)).status == "cancelled"
        assert list(await session.scalars(select(Notification.id))) == []


async def test_bad_input_gives_the_usage_and_unknown_ids_are_named(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    for bad in ("/event frobnicate", "/event change 5", "/event cancel", "/event cancel x"):
        await admin.send(bad)
        text = admin.last_bot_message.text
        assert text.startswith("Usage:") and "/event change ID | YYYY-MM-DD HH:MM" in text, bad
    await admin.send("/event change 5 | tomorrow | Rapallo")
    text = admin.last_bot_message.text
    assert text.startswith("The event was not saved: not a date and time")
    assert "Usage:" in text
    await admin.send("/event cancel 999999")
    assert admin.last_bot_message.text == "There is no event #999999."
    await admin.send("/event change 999999 | | Rapallo")
    assert admin.last_bot_message.text == "There is no event #999999."
    assert await audit_rows(db) == []


@pytest.mark.parametrize("command", ["/event", "/event list all", "/evento cancel 1"])
async def test_citizens_are_refused(db, sandbox, running_bot, command):
    event_id = await create(db, soon(3))
    citizen = sandbox.user(3, language_code="en")
    await citizen.send(command.replace(" 1", f" {event_id}"))
    assert citizen.last_bot_message.text == REFUSED
    async with db.transaction() as session:
        assert (await session.get(Event, event_id)).status == "scheduled"
    assert await audit_rows(db) == []


# --- what staff read when an event cannot be saved (issue 13) ----------------------------------


async def test_reasons_are_in_the_staff_members_language(db, sandbox, running_bot):
    italian = sandbox.user(ADMIN, language_code="it")
    reasons = {
        "/newevent domani | Incontro": (
            "L'evento non è stato salvato: «domani» non è una data con ora (AAAA-MM-GG HH:MM)"
        ),
        f"/newevent {rome(soon(3))} | Incontro | Chiavari | zone=atlantide": (
            "L'evento non è stato salvato: zona sconosciuta: atlantide"
        ),
        f"/newevent {rome(soon(3))} | Incontro | colore=rosso": (
            "L'evento non è stato salvato: opzione sconosciuta «colore=rosso» "
            "(zone, strategy, comune, kind, end, url, en)"
        ),
        f"/newevent {rome(soon(3))} | Incontro | end=25:00": (
            "L'evento non è stato salvato: «25:00» non è un orario (HH:MM)"
        ),
        f"/newevent {rome(soon(3))} | Incontro | kind=festa": (
            "L'evento non è stato salvato: tipo sconosciuto «festa» "
            "(meeting, network_meeting, annual_review, consultation, other)"
        ),
        "/newevent 2026-12-03 17:30": (
            "L'evento non è stato salvato: scrivi AAAA-MM-GG HH:MM | titolo | luogo | "
            "zone=… strategy=…"
        ),
    }
    for command, expected in reasons.items():
        await italian.send(command)
        assert italian.last_bot_message.text == expected, command
    english = sandbox.user(ADMIN + 1, language_code="en")
    async with db.transaction() as session:
        await staff.grant(session, ADMIN, ADMIN + 1, datetime.now(UTC))
    await english.send("/newevent tomorrow | Meeting")
    assert english.last_bot_message.text == (
        "The event was not saved: not a date and time (YYYY-MM-DD HH:MM): “tomorrow”"
    )
    async with db.transaction() as session:
        assert list(await session.scalars(select(Event.id))) == []


async def test_a_date_in_the_past_is_refused_and_nobody_is_told(
    db, sandbox, running_bot, make_sender
):
    await follower(db, sandbox, 1, "tigullio")
    italian = sandbox.user(ADMIN, language_code="it")
    yesterday = soon(-1)
    await italian.send(f"/newevent {rome(yesterday)} | Incontro | Chiavari | zone=tigullio")
    with use_locale("it"):
        when = format_datetime(yesterday, "EEEE d MMMM y, HH:mm")
    assert italian.last_bot_message.text == (
        f"L'evento non è stato salvato: l'inizio indicato ({when}) è già passato: "
        "indica una data e un'ora future"
    )
    async with db.transaction() as session:
        assert list(await session.scalars(select(Event.id))) == []
    starts = soon(3)
    event_id = await create(db, starts)
    await italian.send(f"/evento change {event_id} | {rome(yesterday)}")
    assert italian.last_bot_message.text.startswith(
        f"L'evento non è stato salvato: l'inizio indicato ({when}) è già passato"
    )
    async with db.transaction() as session:
        assert (await session.get(Event, event_id)).starts_at == starts
    await send_all(make_sender())
    assert sandbox.user(1).bot_messages == []
    assert await audit_rows(db) == []


# --- the place as given, and the comune tag that follows it (issue 13) -------------------------


def test_the_place_line_shows_the_place_as_given():
    from bot.delivery.templates import event as event_text

    payload = {
        "phase": "announce",
        "title": {"it": "Incontro"},
        "kind": "meeting",
        "starts_at": MEETING_AT.isoformat(),
        "place": "Chiavari, Società Economica",
        "comune": "Chiavari",
    }
    with use_locale("it"):
        assert "📍 Chiavari, Società Economica\n" in event_text.event_html(payload, "it") + "\n"
        assert "📍 Chiavari\n" in event_text.event_html({**payload, "place": None}, "it") + "\n"


async def comune_follower(db, sandbox, user_id: int, istat: str) -> Subscriber:
    row = await follower(db, sandbox, user_id)
    async with db.transaction() as session:
        row = await session.get(Subscriber, row.id)
        await subscriptions.subscribe(session, row, Target(TargetKind.COMUNE, istat))
    return row


async def test_a_move_to_another_comune_moves_the_comune_tag(db, sandbox, running_bot, make_sender):
    await comune_follower(db, sandbox, 1, "010015")  # Chiavari
    await comune_follower(db, sandbox, 2, "010046")  # Rapallo
    admin = sandbox.user(ADMIN, language_code="it")
    starts = evening(4)
    await admin.send(
        f"/newevent {rome(starts)} | Incontro del Tigullio | Chiavari, Società Economica | "
        "comune=010015"
    )
    await send_all(make_sender())
    (announcement,) = sandbox.user(1).bot_messages
    assert "📍 Chiavari, Società Economica\n" in announcement.text + "\n"
    assert sandbox.user(2).bot_messages == []
    async with db.transaction() as session:
        (event,) = await events.list_events(session)
        event_id = event.id

    await admin.send(f"/evento change {event_id} | | Rapallo, Villa Tigullio")
    lines = admin.last_bot_message.text.splitlines()
    assert lines[1:3] == [
        "📍 Chiavari, Società Economica → Rapallo, Villa Tigullio",
        "🏛 Comune: Chiavari → Rapallo",
    ]
    async with db.transaction() as session:
        assert (await events.get(session, event_id)).comune_istat == "010046"
    await send_all(make_sender())
    for user_id in (1, 2):  # who was told of Chiavari, and who follows Rapallo
        moved = sandbox.user(user_id).last_bot_message.text
        assert "Evento modificato" in moved
        assert "📍 Rapallo, Villa Tigullio\n" in moved + "\n" and "Chiavari" not in moved
    assert (await audit_rows(db))[-1][2] == {"event_id": event_id, "changed": ["place", "comune"]}

    # A place that names no comune keeps the tag.
    await admin.send(f"/evento change {event_id} | | Sala consiliare")
    async with db.transaction() as session:
        assert (await events.get(session, event_id)).comune_istat == "010046"
