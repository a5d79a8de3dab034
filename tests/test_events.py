"""Events: announcements, changes, cancellations, reminders, RSVP, calendar files, ics import."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from sqlalchemy import func, select

from bot import callbacks
from bot.app import build_sender
from bot.callbacks import EventButton, EventChoice
from bot.db.models import (
    Delivery,
    EntryKind,
    Event,
    EventStatus,
    Notification,
    RecordEntry,
    RsvpAnswer,
    Subscriber,
    TargetKind,
)
from bot.delivery.sender import SenderConfig
from bot.delivery.templates import event as event_text
from bot.i18n import use_locale
from bot.jobs.events import EventJob, event_round
from bot.services import event_ics, event_input, events, participation, subscriptions
from bot.services.events import EventDraft, EventError
from bot.services.subscriptions import Target
from tests.conftest import eventually

STAFF = 4242
FAST = SenderConfig(
    messages_per_second=None, per_chat_interval_s=None, retry_base_s=0.05, idle_sleep_s=0.05
)
TIGULLIO = (TargetKind.ZONE, "tigullio")
CHIAVARI = "010015"
# A meeting at 17:30 in Rome on a winter day (16:30 UTC).
MEETING_AT = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({STAFF}))


@pytest.fixture
def make_sender(settings, db, sandbox):
    def make(clock=None):
        sender = build_sender(
            settings,
            db,
            base_url=sandbox.base_url,
            base_file_url=sandbox.base_file_url,
            config=FAST,
        )
        if clock is not None:
            sender.clock = clock
        return sender

    return make


async def send_all(sender) -> None:
    async with sender.bot:
        await sender.run_until_idle(wait_s=5.0)


async def follower(db, sandbox, user_id, *follows, language="it") -> Subscriber:
    sandbox.user(user_id, first_name=f"U{user_id}", language_code=language)
    async with db.transaction() as session:
        row, _ = await subscriptions.get_or_create_subscriber(
            session, telegram_user_id=user_id, chat_id=user_id, first_name="U", language=language
        )
        for kind, target_id in follows:
            await subscriptions.subscribe(session, row, Target(kind, target_id))
    return row


def meeting(starts_at: datetime = MEETING_AT, **changes) -> EventDraft:
    draft = EventDraft(
        title_it="Incontro del Tigullio",
        title_en="Tigullio meeting",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        place="Società Economica, sala Ghio-Schiffini",
        comune_istat=CHIAVARI,
        zones=("tigullio",),
        strategies=("S4",),
    )
    return dataclasses.replace(draft, **changes)


async def create(db, draft: EventDraft, now: datetime) -> int:
    async with db.transaction() as session:
        return (await events.create(session, draft, now)).id


async def rsvp(db, subscriber: Subscriber, event_id: int, answer: RsvpAnswer, now: datetime):
    async with db.transaction() as session:
        row = await session.get(Subscriber, subscriber.id)
        return await events.answer_rsvp(session, row, event_id, answer, now)


async def source_keys(db) -> list[str]:
    async with db.transaction() as session:
        return list(
            await session.scalars(select(Notification.source_key).order_by(Notification.id))
        )


async def recipients(db, source_key: str) -> list[int]:
    async with db.transaction() as session:
        rows = await session.scalars(
            select(Delivery.chat_id)
            .join(Notification, Notification.id == Delivery.notification_id)
            .where(Notification.source_key == source_key)
            .order_by(Delivery.chat_id)
        )
        return list(rows)


# --- announcements, reminders, restarts ---------------------------------------------------


async def test_reminders_fire_once_at_the_right_time_also_after_a_restart(db, sandbox, make_sender):
    attendee = await follower(db, sandbox, 1, TIGULLIO)
    await follower(db, sandbox, 2, TIGULLIO)  # follows, never answers: no reminder
    clock = Clock(MEETING_AT - timedelta(days=5))
    event_id = await create(db, meeting(), clock.now)
    assert await recipients(db, f"event:{event_id}:announce") == [1, 2]
    await rsvp(db, attendee, event_id, RsvpAnswer.YES, clock.now)
    job = EventJob(db, clock=clock)

    clock.now = MEETING_AT - timedelta(days=1, minutes=1)
    assert await event_round(job) == []
    clock.now = MEETING_AT - timedelta(days=1)
    assert len(await event_round(job)) == 1
    assert await event_round(job) == []
    assert await event_round(EventJob(db, clock=clock)) == []  # a restarted process
    clock.now = MEETING_AT - timedelta(minutes=59)
    assert len(await event_round(job)) == 1
    assert await event_round(EventJob(db, clock=clock)) == []
    clock.now = MEETING_AT + timedelta(minutes=1)
    assert await event_round(job) == []

    keys = await source_keys(db)
    assert [k for k in keys if "reminder" in k] == [
        f"event:{event_id}:reminder-day:20261203T1630Z",
        f"event:{event_id}:reminder-hour:20261203T1630Z",
    ]
    for key in keys[1:]:
        assert await recipients(db, key) == [1]
    await send_all(make_sender(clock))
    texts = [m.text for m in sandbox.user(1).bot_messages]
    assert len(texts) == 3
    assert "Promemoria: domani" in texts[1] and "giovedì 3 dicembre 2026, 17:30" in texts[1]
    assert "Promemoria: tra un'ora" in texts[2]
    assert len(sandbox.user(2).bot_messages) == 1


async def test_a_cancelled_event_sends_no_reminder_and_tells_who_answered(db, sandbox, make_sender):
    attendee = await follower(db, sandbox, 1)  # follows nothing, answered from /events
    clock = Clock(MEETING_AT - timedelta(days=3))
    event_id = await create(db, meeting(), clock.now)
    await rsvp(db, attendee, event_id, RsvpAnswer.YES, clock.now)
    async with db.transaction() as session:
        assert await events.cancel(session, await events.get(session, event_id), clock.now)
        assert not await events.cancel(session, await events.get(session, event_id), clock.now)
    for moment in (timedelta(days=1), timedelta(minutes=30)):
        clock.now = MEETING_AT - moment
        assert await event_round(EventJob(db, clock=clock)) == []
    assert await recipients(db, f"event:{event_id}:cancel") == [1]
    await send_all(make_sender(clock))
    (message,) = sandbox.user(1).bot_messages
    assert "Evento annullato" in message.text
    assert "Parteciperò" not in str(message.buttons)
    outcome = await rsvp(db, attendee, event_id, RsvpAnswer.YES, clock.now)
    assert outcome.cancelled


async def test_a_new_time_is_notified_once_and_reminded_at_the_new_time(db, sandbox):
    attendee = await follower(db, sandbox, 1)
    clock = Clock(MEETING_AT - timedelta(days=3))
    event_id = await create(db, meeting(), clock.now)
    await rsvp(db, attendee, event_id, RsvpAnswer.MAYBE, clock.now)
    later = MEETING_AT + timedelta(days=1)
    async with db.transaction() as session:
        event = await events.get(session, event_id)
        assert await events.change(session, event, meeting(later), clock.now)
        assert not await events.change(session, event, meeting(later), clock.now)
        assert event.status == EventStatus.CHANGED
    assert await recipients(db, f"event:{event_id}:update:1") == [1]
    clock.now = MEETING_AT - timedelta(hours=1)
    assert await event_round(EventJob(db, clock=clock)) == []  # the old time is gone


async def test_past_events_are_stored_without_announcing(db, sandbox):
    await follower(db, sandbox, 1, TIGULLIO)
    await create(db, meeting(datetime(2016, 11, 23, 14, 0, tzinfo=UTC)), MEETING_AT)
    assert await source_keys(db) == []


# --- times across daylight saving ------------------------------------------------------------


def test_times_are_shown_in_rome_across_the_october_change():
    # 25 October 2026: at 03:00 CEST clocks go back to 02:00 CET; 02:30 happens twice.
    before, after = (
        event_input.local_time("2026-10-25 02:30"),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    )
    assert before == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert event_input.local_time("2026-10-24 21:00") == datetime(2026, 10, 24, 19, 0, tzinfo=UTC)
    assert event_input.local_time("2026-10-25 21:00") == datetime(2026, 10, 25, 20, 0, tzinfo=UTC)
    with use_locale("it"):
        assert event_text.when(after, None) == "domenica 25 ottobre 2026, 02:30"
        assert event_text.when(before, after + timedelta(hours=1)) == (
            "domenica 25 ottobre 2026, 02:30 – 03:30"
        )
    with use_locale("en"):
        assert event_text.when(after, None) == "Sunday 25 October 2026, 02:30"


async def test_a_reminder_on_the_night_of_the_change_comes_an_hour_before(db, sandbox):
    attendee = await follower(db, sandbox, 1)
    starts_at = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, after the change
    clock = Clock(starts_at - timedelta(days=2))
    event_id = await create(db, meeting(starts_at), clock.now)
    await rsvp(db, attendee, event_id, RsvpAnswer.YES, clock.now)
    clock.now = datetime(2026, 10, 25, 0, 29, tzinfo=UTC)  # 02:29 CEST: 61 minutes before
    await event_round(EventJob(db, clock=clock))
    assert not any("hour" in k for k in await source_keys(db))
    clock.now = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30, one hour before
    assert len(await event_round(EventJob(db, clock=clock))) == 1


# --- RSVP and the participation record -------------------------------------------------------


async def test_rsvp_is_one_record_entry_per_person_updated_on_change(db, sandbox):
    consenting = await follower(db, sandbox, 1)
    silent = await follower(db, sandbox, 2)
    now = MEETING_AT - timedelta(days=3)
    event_id = await create(db, meeting(), now)
    async with db.transaction() as session:
        row = await session.get(Subscriber, consenting.id)
        participant = await participation.participant_of(session, row)
        participation.set_consent(participant, True, now)
    first = await rsvp(db, consenting, event_id, RsvpAnswer.MAYBE, now)
    second = await rsvp(db, consenting, event_id, RsvpAnswer.YES, now)
    third = await rsvp(db, silent, event_id, RsvpAnswer.NO, now)
    assert first.reference == second.reference
    assert third.counts == {"yes": 1, "maybe": 0, "no": 1}
    async with db.transaction() as session:
        entries = list(await session.scalars(select(RecordEntry).order_by(RecordEntry.id)))
    assert [(e.kind, e.value, e.subject_kind, e.subject_id) for e in entries] == [
        (EntryKind.RSVP, "yes", "event", str(event_id)),
        (EntryKind.RSVP, "no", "event", str(event_id)),
    ]
    assert entries[0].participant_id is not None
    assert entries[1].participant_id is None  # no consent: counted, nothing personal
    assert ("zone", "tigullio") in {(t.target_kind, t.target_id) for t in entries[0].tags}


async def test_events_lists_what_i_follow_or_everything(db, sandbox):
    now = MEETING_AT - timedelta(days=3)
    await create(db, meeting(), now)
    await create(
        db,
        meeting(title_it="Incontro Ponente", zones=("ponente",), comune_istat=None, strategies=()),
        now,
    )
    tigullio_fan = await follower(db, sandbox, 1, (TargetKind.COMUNE, "010046"))  # Rapallo
    nobody = await follower(db, sandbox, 2)
    async with db.transaction() as session:
        mine = await events.upcoming_for(
            session, await session.get(Subscriber, tigullio_fan.id), now
        )
        everything = await events.upcoming_for(
            session, await session.get(Subscriber, nobody.id), now
        )
    assert [e.title_it for e in mine] == ["Incontro del Tigullio"]
    assert len(everything) == 2


# --- iCalendar -------------------------------------------------------------------------------


def calendar(*vevents: dict) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//test//")
    cal.add("version", "2.0")
    for fields in vevents:
        vevent = icalendar.Event()
        for name, value in fields.items():
            vevent.add(name, value)
        cal.add_component(vevent)
    return cal.to_ical()


def ics_meeting(**changes) -> dict:
    fields = {
        "uid": "incontro-1@cittametropolitana.genova.it",
        "summary": "Incontro del Tigullio",
        "dtstart": MEETING_AT,
        "dtend": MEETING_AT + timedelta(hours=2),
        "location": "Chiavari",
    }
    return {**fields, **changes}


async def test_ics_import_is_idempotent_and_follows_changes_and_cancellations(db, sandbox):
    await follower(db, sandbox, 1, TIGULLIO)
    now = MEETING_AT - timedelta(days=7)
    async with db.transaction() as session:
        source = await event_ics.add_source(session, "https://example.org/psm.ics", ("tigullio",))
        first = await event_ics.import_calendar(session, calendar(ics_meeting()), now, source)
        again = await event_ics.import_calendar(session, calendar(ics_meeting()), now, source)
    assert (first.created, again.created, again.unchanged) == (1, 0, 1)
    assert len(await source_keys(db)) == 1
    moved = ics_meeting(
        dtstart=MEETING_AT + timedelta(hours=1), dtend=MEETING_AT + timedelta(hours=3)
    )
    async with db.transaction() as session:
        source = await event_ics.add_source(session, "https://example.org/psm.ics")
        assert (await event_ics.import_calendar(session, calendar(moved), now, source)).changed == 1
        assert (
            await event_ics.import_calendar(session, calendar(moved), now, source)
        ).unchanged == 1
        cancelled = calendar({**moved, "status": "CANCELLED"})
        assert (await event_ics.import_calendar(session, cancelled, now, source)).cancelled == 1
        assert (await event_ics.import_calendar(session, cancelled, now, source)).unchanged == 1
        assert await session.scalar(select(func.count()).select_from(Event)) == 1
    keys = await source_keys(db)
    assert [k.split(":", 2)[2] for k in keys] == ["announce", "update:1", "cancel"]
    assert await recipients(db, keys[0]) == [1]


async def test_a_calendar_file_round_trips_with_uid_utc_times_and_status(db):
    now = MEETING_AT - timedelta(days=2)
    async with db.transaction() as session:
        event = await events.create(session, meeting(online_url="https://meet.example.org/x"), now)
        data = event_ics.to_ics(event, "en", now)
    (vevent,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(vevent["uid"]) == event.uid
    assert vevent.decoded("dtstart") == MEETING_AT
    assert b"DTSTART:20261203T163000Z" in data
    assert str(vevent["summary"]) == "Tigullio meeting"
    assert str(vevent["location"]).startswith("Società Economica")
    assert str(vevent["url"]) == "https://meet.example.org/x"
    assert str(vevent["status"]) == "CONFIRMED"


def test_staff_line_syntax_and_its_errors():
    draft = event_input.parse_staff_line(
        "2026-12-03 17:30 | Incontro | Chiavari | zone=tigullio strategy=s4 end=19:30 "
        "en=Tigullio meeting"
    )
    assert draft.starts_at == MEETING_AT
    assert draft.ends_at == MEETING_AT + timedelta(hours=2)
    assert (draft.place, draft.zones, draft.strategies) == ("Chiavari", ("tigullio",), ("S4",))
    assert draft.title_en == "Tigullio meeting"
    for bad in ("domani | x", "2026-12-03 17:30", "2026-12-03 17:30 | x | y | colour=red"):
        with pytest.raises(EventError):
            event_input.parse_staff_line(bad)


def test_event_callbacks_round_trip_and_forged_ones_are_refused():
    data = callbacks.event_data(123456789, EventChoice.CALENDAR_FILE)
    assert len(data.encode()) <= callbacks.MAX_CALLBACK_BYTES
    assert callbacks.parse(data) == EventButton(123456789, EventChoice.CALENDAR_FILE)
    for forged in ("ev:1:x", "ev:x:y", "ev:1", "ev:-1:y", "ev:1:y:z"):
        with pytest.raises(callbacks.InvalidCallback):
            callbacks.parse(forged)


# --- end to end, through the Bot API stand-in ------------------------------------------------


async def test_staff_publish_a_meeting_and_followers_rsvp_get_reminders_and_a_calendar_file(
    db, sandbox, running_bot, make_sender
):
    citizen = sandbox.user(1, first_name="Giulia", language_code="it")
    await citizen.send("/start zone_tigullio")
    staff = sandbox.user(STAFF, first_name="Ufficio", language_code="it")
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    local = starts.astimezone(event_input.TIMEZONE).strftime("%Y-%m-%d %H:%M")
    await staff.send(f"/newevent {local} | Incontro del Tigullio | Chiavari | zone=tigullio")
    assert "pubblicato" in staff.bot_messages[-2].text

    await send_all(make_sender())
    invitation = citizen.last_bot_message
    assert "Nuovo evento" in invitation.text and "Incontro del Tigullio" in invitation.text
    await citizen.press("✅ Parteciperò")  # answered with a notice
    assert "Parteciperai." in citizen.callback_answers[-1].text

    await citizen.press("🗓 Aggiungi al calendario")

    async def calendar_file():  # the press is answered first, the file follows
        last = citizen.last_bot_message
        return last if last is not None and last.kind == "document" else None

    document = await eventually(calendar_file, timeout=30)
    assert document is not None and document.file_name.endswith(".ics")
    assert b"SUMMARY:Incontro del Tigullio" in document.file_bytes

    clock = Clock(starts - timedelta(hours=1))
    await event_round(EventJob(db, clock=clock))
    await send_all(make_sender(clock))
    assert "Promemoria: tra un'ora" in citizen.last_bot_message.text

    await citizen.send("/eventi")
    card = citizen.last_bot_message
    assert "1 persona parteciperà" in card.text and "Parteciperai." in card.text

    await citizen.press_data("ev:999999:y")
    assert "non esiste più" in citizen.callback_answers[-1].text
    await citizen.send("/newevent 2026-12-03 17:30 | x")
    assert "riservato" in citizen.last_bot_message.text


# --- the command line ------------------------------------------------------------------------


async def run_cli(settings, *argv: str) -> int:
    from bot.cli import _parser
    from bot.cli import events as events_cli

    return await events_cli.run(_parser().parse_args(["events", *argv]), settings)


async def test_cli_adds_lists_changes_cancels_and_imports(db, settings, tmp_path, capsys):
    start = (datetime.now(UTC) + timedelta(days=10)).astimezone(event_input.TIMEZONE)
    when = start.strftime("%Y-%m-%d %H:%M")
    assert (
        await run_cli(
            settings,
            "add",
            "--start",
            when,
            "--title",
            "Revisione 2026",
            "--zone",
            "genova",
            "--kind",
            "annual_review",
        )
        == 0
    )
    assert (
        await run_cli(settings, "add", "--start", when, "--title", "X", "--zone", "atlantide") == 2
    )
    assert "unknown zone: atlantide" in capsys.readouterr().err
    async with db.transaction() as session:
        (event,) = await events.list_events(session)
    assert await run_cli(settings, "change", str(event.id), "--place", "Palazzo Doria Spinola") == 0
    assert "changed and notified" in capsys.readouterr().out
    assert await run_cli(settings, "cancel", str(event.id)) == 0
    assert await run_cli(settings, "list") == 0
    assert (
        "Revisione 2026 @ Palazzo Doria Spinola (annual_review, cancelled)"
        in capsys.readouterr().out
    )
    ics = tmp_path / "psm.ics"
    ics.write_bytes(calendar(ics_meeting(dtstart=datetime.now(UTC) + timedelta(days=5))))
    assert await run_cli(settings, "import-ics", str(ics), "--zone", "tigullio") == 0
    assert await run_cli(settings, "import-ics", str(ics)) == 0
    assert "0 new, 0 changed, 0 cancelled, 1 unchanged" in capsys.readouterr().out
    async with db.transaction() as session:
        imported = await events.by_uid(session, ics_meeting()["uid"])
    assert imported.zones == ["tigullio"]


async def test_the_job_polls_calendar_urls_like_feeds_and_records_failures(db, sandbox):
    import httpx

    await follower(db, sandbox, 1, TIGULLIO)
    requests = []

    def serve(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        if request.url.path == "/broken.ics":
            return httpx.Response(500)
        return httpx.Response(200, content=calendar(ics_meeting()))

    async with db.transaction() as session:
        await event_ics.add_source(session, "https://example.org/psm.ics", ("tigullio",))
        await event_ics.add_source(session, "https://example.org/broken.ics")
    clock = Clock(MEETING_AT - timedelta(days=7))
    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as client:
        job = EventJob(db, clock=clock, client=client)
        await event_round(job)
        await event_round(job)  # not due again before 30 minutes
        clock.now += timedelta(minutes=31)
        await event_round(job)  # the broken one waits twice as long
    assert len(requests) == 3
    assert len(await source_keys(db)) == 1  # announced once
    async with db.transaction() as session:
        broken = (await event_ics.list_sources(session))[1]
    assert broken.last_error == "HTTP 500 Internal Server Error"


# --- reminders as people receive them (issue 13) ---------------------------------------------


async def reminder_states(db, source_key: str) -> dict[int, str]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(Delivery.chat_id, Delivery.state)
            .join(Notification, Notification.id == Delivery.notification_id)
            .where(Notification.source_key == source_key)
        )
        return dict(rows.all())


def reminders_received(sandbox, user_id: int) -> list[str]:
    return [
        line
        for message in sandbox.user(user_id).bot_messages
        for line in message.text.splitlines()
        if line.startswith("⏰")
    ]


async def test_reminders_reach_whoever_attends_when_they_go(db, sandbox, make_sender):
    early = await follower(db, sandbox, 1)
    late = await follower(db, sandbox, 2)
    changed_mind = await follower(db, sandbox, 3)
    on_the_day = await follower(db, sandbox, 4)
    clock = Clock(MEETING_AT - timedelta(days=3))
    event_id = await create(db, meeting(), clock.now)
    for person in (early, changed_mind):
        await rsvp(db, person, event_id, RsvpAnswer.YES, clock.now)

    clock.now = MEETING_AT - timedelta(days=1)
    assert len(await event_round(EventJob(db, clock=clock))) == 1
    # After the reminder was created, before it goes: a new "yes", a change to "no".
    await rsvp(db, late, event_id, RsvpAnswer.YES, clock.now + timedelta(minutes=1))
    await rsvp(db, changed_mind, event_id, RsvpAnswer.NO, clock.now + timedelta(minutes=1))
    day_key = f"event:{event_id}:reminder-day:20261203T1630Z"
    assert await reminder_states(db, day_key) == {1: "pending", 2: "pending", 3: "skipped"}
    clock.now += timedelta(minutes=2)
    await send_all(make_sender(clock))
    assert reminders_received(sandbox, 1) == ["⏰ Promemoria: domani"]
    assert reminders_received(sandbox, 2) == ["⏰ Promemoria: domani"]
    assert reminders_received(sandbox, 3) == []

    # On the day itself "domani" would be wrong: a "yes" then waits for the hour reminder.
    clock.now = MEETING_AT - timedelta(hours=10)  # 07:30 in Rome on the day
    await rsvp(db, on_the_day, event_id, RsvpAnswer.YES, clock.now)
    await rsvp(db, changed_mind, event_id, RsvpAnswer.YES, clock.now)
    assert 4 not in await reminder_states(db, day_key)
    clock.now = MEETING_AT - timedelta(hours=1)
    assert len(await event_round(EventJob(db, clock=clock))) == 1
    await send_all(make_sender(clock))
    for user_id in (3, 4):
        assert reminders_received(sandbox, user_id) == ["⏰ Promemoria: tra un'ora"]
    assert reminders_received(sandbox, 1) == ["⏰ Promemoria: domani", "⏰ Promemoria: tra un'ora"]


async def test_a_no_after_the_reminder_was_sent_changes_nothing_sent(db, sandbox, make_sender):
    attendee = await follower(db, sandbox, 1)
    clock = Clock(MEETING_AT - timedelta(days=2))
    event_id = await create(db, meeting(), clock.now)
    await rsvp(db, attendee, event_id, RsvpAnswer.YES, clock.now)
    clock.now = MEETING_AT - timedelta(days=1)
    await event_round(EventJob(db, clock=clock))
    await send_all(make_sender(clock))
    await rsvp(db, attendee, event_id, RsvpAnswer.NO, clock.now)
    await rsvp(db, attendee, event_id, RsvpAnswer.YES, clock.now)  # sent once, not again
    day_key = f"event:{event_id}:reminder-day:20261203T1630Z"
    assert await reminder_states(db, day_key) == {1: "sent"}


@pytest.mark.parametrize(
    ("announced_before", "job_runs_at"),
    [
        (timedelta(minutes=70), [timedelta(minutes=70), timedelta(minutes=61)]),
        (timedelta(hours=23), [timedelta(hours=23), timedelta(hours=5)]),
        # Announced days before, but the job was down until shortly before the event.
        (timedelta(days=3), [timedelta(minutes=61)]),
        (timedelta(days=3), [timedelta(minutes=100)]),
        # Back on the day itself (07:30 in Rome): "tomorrow" would be wrong.
        (timedelta(days=3), [timedelta(hours=10)]),
    ],
)
async def test_no_day_before_reminder_for_an_event_less_than_a_day_away(
    db, sandbox, make_sender, announced_before, job_runs_at
):
    attendee = await follower(db, sandbox, 1)
    clock = Clock(MEETING_AT - announced_before)
    event_id = await create(db, meeting(), clock.now)
    await rsvp(db, attendee, event_id, RsvpAnswer.YES, clock.now)
    for left in job_runs_at:
        clock.now = MEETING_AT - left
        assert await event_round(EventJob(db, clock=clock)) == []
    clock.now = MEETING_AT - timedelta(minutes=60)
    assert len(await event_round(EventJob(db, clock=clock))) == 1
    assert [k.split(":")[2] for k in await source_keys(db) if "reminder" in k] == ["reminder-hour"]
    await send_all(make_sender(clock))
    assert reminders_received(sandbox, 1) == ["⏰ Promemoria: tra un'ora"]


async def test_a_day_reminder_follows_a_move_to_a_time_a_day_away(db, sandbox):
    attendee = await follower(db, sandbox, 1)
    clock = Clock(MEETING_AT - timedelta(hours=5))
    event_id = await create(db, meeting(), clock.now)
    await rsvp(db, attendee, event_id, RsvpAnswer.YES, clock.now)
    later = MEETING_AT + timedelta(days=2)
    async with db.transaction() as session:
        assert await events.change(
            session, await events.get(session, event_id), meeting(later), clock.now
        )
    clock.now = later - timedelta(days=1)
    assert len(await event_round(EventJob(db, clock=clock))) == 1
    assert any("reminder-day" in key for key in await source_keys(db))


async def test_cli_refuses_a_start_in_the_past(db, settings, capsys):
    past = (datetime.now(UTC) - timedelta(days=1)).astimezone(event_input.TIMEZONE)
    when = past.strftime("%Y-%m-%d %H:%M")
    assert await run_cli(settings, "add", "--start", when, "--title", "Ieri") == 2
    assert capsys.readouterr().err == (
        f"psm-bot: events: the start given ({when}) is in the past: give a future date and time\n"
    )
    async with db.transaction() as session:
        assert await events.list_events(session) == []


# --- recurring calendars, fetched like feeds (issue 13) --------------------------------------


def weekly_calendar(*extra_lines: str, override_start: str = "20261211T180000") -> bytes:
    """Weekly on Thursdays at 17:30 from 3 December 2026 (four times), plus Saturday the 5th;
    the one of the 10th moved to another day."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//test//",
        "BEGIN:VEVENT",
        "UID:tavolo@cittametropolitana.genova.it",
        "DTSTART;TZID=Europe/Rome:20261203T173000",
        "DTEND;TZID=Europe/Rome:20261203T193000",
        "RRULE:FREQ=WEEKLY;COUNT=4",
        "RDATE;TZID=Europe/Rome:20261205T100000",
        *extra_lines,
        "SUMMARY:Tavolo del Tigullio",
        "LOCATION:Chiavari",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:tavolo@cittametropolitana.genova.it",
        "RECURRENCE-ID;TZID=Europe/Rome:20261210T173000",
        f"DTSTART;TZID=Europe/Rome:{override_start}",
        "SUMMARY:Tavolo del Tigullio (spostato)",
        "LOCATION:Rapallo",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines).encode() + b"\r\n"


async def imported_events(db) -> list[tuple[str, datetime, str]]:
    async with db.transaction() as session:
        rows = await events.list_events(session, limit=1000)
        return [(e.uid, e.starts_at, e.status) for e in rows]


async def test_a_recurring_calendar_imports_each_occurrence_once(db, sandbox, make_sender):
    await follower(db, sandbox, 1, TIGULLIO)
    now = MEETING_AT - timedelta(days=7)
    uid = "tavolo@cittametropolitana.genova.it"

    async def import_(data: bytes) -> event_ics.ImportReport:
        async with db.transaction() as session:
            source = await event_ics.add_source(session, "https://example.org/t.ics", ("tigullio",))
            return await event_ics.import_calendar(session, data, now, source)

    assert (await import_(weekly_calendar())).created == 5
    # The series is announced once, with its first occurrence; the rest is in /events.
    assert [key.split(":", 2)[2] for key in await source_keys(db)] == ["announce"]
    await send_all(make_sender(Clock(now)))
    (announcement,) = sandbox.user(1).bot_messages
    assert "Nuovo evento" in announcement.text
    assert "giovedì 3 dicembre 2026, 17:30 – 19:30" in announcement.text
    rome = [
        (uid.split("/")[0], start.astimezone(event_input.TIMEZONE).strftime("%d %H:%M"))
        for uid, start, _status in await imported_events(db)
    ]
    assert rome == [
        (uid, "03 17:30"),
        (uid, "05 10:00"),
        (uid, "11 18:00"),  # the one of the 10th, moved
        (uid, "17 17:30"),
        (uid, "24 17:30"),
    ]
    stored = await imported_events(db)
    assert stored[2][0] == f"{uid}/20261210T163000Z"  # identity: uid and the planned start
    again = await import_(weekly_calendar())
    assert (again.created, again.changed, again.unchanged) == (0, 0, 5)

    # The moved occurrence moves again: the same event changes, none is added.
    moved = await import_(weekly_calendar(override_start="20261212T110000"))
    assert (moved.created, moved.changed, moved.unchanged) == (0, 1, 4)
    assert [s for u, s, _ in await imported_events(db) if u == stored[2][0]] == [
        datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
    ]
    # An occurrence taken out of the series (EXDATE) is cancelled.
    dropped = await import_(weekly_calendar("EXDATE;TZID=Europe/Rome:20261217T173000"))
    assert dropped.cancelled == 1
    assert [
        status for u, _s, status in await imported_events(db) if u.endswith("1217T163000Z")
    ] == ["cancelled"]
    assert len(await imported_events(db)) == 5
    # Who was told of the series is told when one of its meetings moves or is dropped.
    assert [key.split(":", 2)[2] for key in await source_keys(db)] == [
        "announce",
        "update:1",
        "update:2",  # back to the 11th: the default override of weekly_calendar()
        "cancel",
    ]


async def test_an_endless_series_is_imported_within_the_horizon(db):
    now = MEETING_AT - timedelta(days=7)
    endless = weekly_calendar().replace(b"RRULE:FREQ=WEEKLY;COUNT=4", b"RRULE:FREQ=WEEKLY")
    async with db.transaction() as session:
        report = await event_ics.import_calendar(session, endless, now)
    starts = [start for _uid, start, _status in await imported_events(db)]
    assert all(now <= start <= now + event_ics.EXPANSION_HORIZON for start in starts)
    assert report.created == len(starts) == 53  # 52 Thursdays (one moved) and the Saturday


async def test_calendar_urls_are_fetched_like_feeds(db, sandbox):
    import httpx

    requests: list[tuple[str, str | None]] = []

    def serve(request: httpx.Request) -> httpx.Response:
        requests.append((request.url.path, request.headers.get("If-None-Match")))
        if request.url.path == "/broken.ics":
            return httpx.Response(500)
        if request.url.path == "/huge.ics":
            return httpx.Response(200, content=b"x" * (event_ics.MAX_ICS_BYTES + 1))
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"'})
        return httpx.Response(200, content=calendar(ics_meeting()), headers={"ETag": '"v1"'})

    async with db.transaction() as session:
        for path in ("psm", "broken", "huge"):
            await event_ics.add_source(session, f"https://example.org/{path}.ics")
    clock = Clock(MEETING_AT - timedelta(days=7))
    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as client:
        job = EventJob(db, clock=clock, client=client)
        await event_round(job)
        clock.now += timedelta(minutes=31)
        await event_round(job)  # a failing calendar waits twice as long
        clock.now += timedelta(minutes=31)
        await event_round(job)
    assert requests == [
        ("/psm.ics", None),
        ("/broken.ics", None),
        ("/huge.ics", None),
        ("/psm.ics", '"v1"'),  # conditional GET: not modified, nothing imported
        ("/psm.ics", '"v1"'),
        ("/broken.ics", None),
        ("/huge.ics", None),
    ]
    async with db.transaction() as session:
        psm, broken, huge = await event_ics.list_sources(session)
        assert (await session.scalar(select(func.count()).select_from(Event))) == 1
    assert psm.last_error is None
    assert broken.last_error == "HTTP 500 Internal Server Error"
    assert huge.last_error.endswith(f"exceeds {event_ics.MAX_ICS_BYTES} bytes")


async def test_cli_imports_a_calendar_url_through_the_feed_fetcher(
    db, settings, capsys, monkeypatch
):
    from tests.feed_server import FeedServer, without_proxies

    without_proxies(monkeypatch)
    async with FeedServer.running() as server:
        good = server.serve("/psm.ics", body=calendar(ics_meeting(dtstart=MEETING_AT)))
        big = server.serve("/big.ics", body=b"x" * (event_ics.MAX_ICS_BYTES + 1))
        assert await run_cli(settings, "import-ics", good) == 0
        assert "1 new" in capsys.readouterr().out
        assert await run_cli(settings, "import-ics", big) == 2
        assert capsys.readouterr().err.endswith(f"exceeds {event_ics.MAX_ICS_BYTES} bytes\n")
        assert server.requests_to("/psm.ics")[0]["User-Agent"].startswith("psm-bot/")
