"""The plan's events: create, change, cancel; their notifications, reminders and RSVPs.

Every notification has a stable source key (announcement, each change, the cancellation,
each reminder for a given start time), so it is created once, also across restarts.
Callers open the transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import dialect_name
from bot.db.engine import hold_audience
from bot.db.models import (
    Comune,
    Delivery,
    DeliveryState,
    EntryKind,
    Event,
    EventKind,
    EventRsvp,
    EventStatus,
    Notification,
    NotificationKind,
    RecordEntry,
    RsvpAnswer,
    Subscriber,
    TargetKind,
)
from bot.i18n import N_, TIMEZONE, _, format_datetime
from bot.services import outbox, participation, subscriptions
from bot.services.outbox import NewNotification
from bot.services.subjects import Subject

EVENT_TEMPLATE = "event"
# How a start time reads in messages: "giovedì 3 dicembre 2026, 17:30".
WHEN_FORMAT = "EEEE d MMMM y, HH:mm"
DAY_BEFORE = timedelta(days=1)
HOUR_BEFORE = timedelta(hours=1)
# The day-before reminder never comes within an hour of the hour-before one.
DAY_REMINDER_LATEST = HOUR_BEFORE + timedelta(hours=1)
NOT_ATTENDING = "not attending"


class EventError(ValueError):
    """An event that cannot be stored as given, in one line.

    `message` is an English catalog id (marked with N_) with {placeholders}: `str()` is the
    English text (the command line, logs), `reason()` the text in the current language.
    """

    def __init__(self, message: str, **values: object) -> None:
        english = {name: _plain(value) for name, value in values.items()}
        super().__init__(message.format(**english))
        self.message, self.values = message, values

    def reason(self) -> str:
        shown = {name: _localized(value) for name, value in self.values.items()}
        return _(self.message).format(**shown)


def _plain(value: object) -> object:
    """A time as the command line shows it: Rome time, YYYY-MM-DD HH:MM."""
    if isinstance(value, datetime):
        return value.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")
    return value


def _localized(value: object) -> object:
    return format_datetime(value, WHEN_FORMAT) if isinstance(value, datetime) else value


@dataclass(frozen=True)
class EventDraft:
    title_it: str
    starts_at: datetime
    title_en: str | None = None
    kind: EventKind = EventKind.MEETING
    ends_at: datetime | None = None
    place: str | None = None
    comune_istat: str | None = None
    online_url: str | None = None
    zones: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    description_it: str | None = None
    description_en: str | None = None
    uid: str | None = None


def new_uid() -> str:
    return f"{uuid.uuid4()}@psm-genova"


def _check(draft: EventDraft) -> None:
    if not draft.title_it.strip():
        raise EventError(N_("an event needs a title"))
    if draft.starts_at.tzinfo is None:
        raise EventError(N_("the start time needs a time zone"))
    if draft.ends_at is not None and draft.ends_at < draft.starts_at:
        raise EventError(N_("the event ends before it starts"))


# --- create, change, cancel ------------------------------------------------------------


async def create(
    session: AsyncSession, draft: EventDraft, now: datetime, *, announce: bool = True
) -> Event:
    """Store a new event and announce it to the followers of its zones, strategies, comune
    (unless `announce` is False: a later occurrence of a series already announced)."""
    _check(draft)
    event = Event(
        uid=draft.uid or new_uid(), status=EventStatus.SCHEDULED.value, revision=0, created_at=now
    )
    _apply(event, draft)
    session.add(event)
    await session.flush()
    if announce:
        await _notify(session, event, "announce", f"event:{event.id}:announce", now)
    return event


def _apply(event: Event, draft: EventDraft) -> None:
    event.kind = EventKind(draft.kind).value
    event.title_it, event.title_en = draft.title_it.strip(), draft.title_en
    event.description_it, event.description_en = draft.description_it, draft.description_en
    event.starts_at, event.ends_at = draft.starts_at, draft.ends_at
    event.place, event.comune_istat = draft.place, draft.comune_istat
    event.online_url = draft.online_url
    event.zones, event.strategies = sorted(set(draft.zones)), sorted(set(draft.strategies))


def _when_and_where(event: Event) -> tuple:
    return (event.starts_at, event.ends_at, event.place, event.comune_istat, event.online_url)


async def change(session: AsyncSession, event: Event, draft: EventDraft, now: datetime) -> bool:
    """Replace the event's details; a new time or place is notified. True when notified."""
    _check(draft)
    before, told_before = _when_and_where(event), event_tags(event)
    _apply(event, draft)
    if event.status == EventStatus.CANCELLED or _when_and_where(event) == before:
        return False
    event.revision += 1
    event.status = EventStatus.CHANGED.value
    await session.flush()
    key = f"event:{event.id}:update:{event.revision}"
    return await _notify(
        session, event, "update", key, now, answers=_ATTENDING_OR_MAYBE, also=told_before
    )


async def cancel(session: AsyncSession, event: Event, now: datetime) -> bool:
    """Cancel once; followers and those who answered are told, no reminder follows."""
    if event.status == EventStatus.CANCELLED:
        return False
    event.status = EventStatus.CANCELLED.value
    await session.flush()
    key = f"event:{event.id}:cancel"
    return await _notify(session, event, "cancel", key, now, answers=_ATTENDING_OR_MAYBE)


async def get(session: AsyncSession, event_id: int) -> Event | None:
    return await session.get(Event, event_id)


async def by_uid(session: AsyncSession, uid: str) -> Event | None:
    return await session.scalar(select(Event).where(Event.uid == uid))


async def list_events(
    session: AsyncSession, *, since: datetime | None = None, limit: int = 100
) -> list[Event]:
    query = select(Event).order_by(Event.starts_at, Event.id).limit(limit)
    if since is not None:
        query = query.where(Event.starts_at >= since)
    return list(await session.scalars(query))


def draft_of(event: Event) -> EventDraft:
    """The event's details as a draft, to change some of them."""
    return EventDraft(
        title_it=event.title_it,
        title_en=event.title_en,
        kind=EventKind(event.kind),
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        place=event.place,
        comune_istat=event.comune_istat,
        online_url=event.online_url,
        zones=tuple(event.zones),
        strategies=tuple(event.strategies),
        description_it=event.description_it,
        description_en=event.description_en,
        uid=event.uid,
    )


# --- notifications -----------------------------------------------------------------------

_ATTENDING = (RsvpAnswer.YES.value,)
_ATTENDING_OR_MAYBE = (RsvpAnswer.YES.value, RsvpAnswer.MAYBE.value)


def event_tags(event: Event) -> list[tuple[str, str]]:
    tags = [(TargetKind.ZONE.value, zone) for zone in event.zones]
    tags += [(TargetKind.STRATEGY.value, strategy) for strategy in event.strategies]
    if event.comune_istat:
        tags.append((TargetKind.COMUNE.value, event.comune_istat))
    return tags


async def comune_name(session: AsyncSession, istat: str | None) -> str | None:
    comune = await session.get(Comune, istat) if istat else None
    return comune.name if comune else None


async def event_payload(session: AsyncSession, event: Event, phase: str) -> dict:
    """What the `event` template shows; times as ISO text in UTC."""
    return {
        "event_id": event.id,
        "phase": phase,
        "kind": event.kind,
        "title": {"it": event.title_it, "en": event.title("en")},
        "description": {"it": event.description_it, "en": event.description("en")},
        "starts_at": event.starts_at.isoformat(),
        "ends_at": event.ends_at.isoformat() if event.ends_at else None,
        "place": event.place,
        "comune": await comune_name(session, event.comune_istat),
        "online_url": event.online_url,
    }


async def _notify(
    session: AsyncSession,
    event: Event,
    phase: str,
    source_key: str,
    now: datetime,
    *,
    followers: bool = True,
    answers: tuple[str, ...] = (),
    also: Iterable[tuple[str, str]] = (),
) -> bool:
    """One notification per source key, targeted now: followers by tag (the event's, and
    `also` those it had before a change), plus those who answered."""
    if event.starts_at <= now:
        return False  # past events (an import of history) are not announced
    new = NewNotification(
        kind=NotificationKind.EVENT,
        source_key=source_key,
        template=EVENT_TEMPLATE,
        payload=await event_payload(session, event, phase),
        tags=sorted({*event_tags(event), *also}) if followers else (),
        not_before=now,
    )
    notification, created = await outbox.enqueue(session, new)
    if not created:
        return False
    await outbox.target(session, notification, now)
    if answers:
        await _deliver_to_respondents(session, notification, event.id, answers, now)
    return True


async def _deliver_to_respondents(
    session: AsyncSession,
    notification: Notification,
    event_id: int,
    answers: Iterable[str],
    now: datetime,
) -> None:
    query = (
        select(Subscriber.id, Subscriber.chat_id)
        .join(EventRsvp, EventRsvp.subscriber_id == Subscriber.id)
        .where(
            EventRsvp.event_id == event_id,
            EventRsvp.answer.in_(list(answers)),
            Subscriber.active.is_(True),
        )
    )
    await hold_audience(session)  # as targeting does: nobody erased until the commit
    rows = await session.execute(query)
    await _deliver(session, notification, rows.all(), now)


async def _deliver(
    session: AsyncSession,
    notification: Notification,
    recipients: Iterable[tuple[int, int]],
    now: datetime,
) -> None:
    """Pending deliveries for (subscriber id, chat id) pairs; nobody gets one twice."""
    values = [
        {
            "notification_id": notification.id,
            "subscriber_id": subscriber_id,
            "chat_id": chat_id,
            "state": DeliveryState.PENDING.value,
            "due_at": now,
            "attempts": 0,
            "created_at": now,
        }
        for subscriber_id, chat_id in recipients
    ]
    if not values:
        return
    dialect = dialect_name(session)
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Delivery)
    await session.execute(
        insert.values(values).on_conflict_do_nothing(
            index_elements=["notification_id", "subscriber_id"]
        )
    )


# --- reminders -----------------------------------------------------------------------------


def due_reminder(event: Event, now: datetime, time_set_at: datetime | None) -> str | None:
    """Which reminder is due now: "hour" in the last hour, "day" on the eve, else None.

    `time_set_at` is when the event got its present start time (announced or moved).
    """
    if event.status == EventStatus.CANCELLED or now >= event.starts_at:
        return None
    left = event.starts_at - now
    if left <= HOUR_BEFORE:
        return "hour"
    if left <= DAY_BEFORE and _day_reminder_fits(event.starts_at, now, time_set_at):
        return "day"
    return None


def _day_reminder_fits(starts_at: datetime, now: datetime, time_set_at: datetime | None) -> bool:
    """ "Tomorrow" only for an event known a day ahead, on its eve (Rome), and not so late
    that it would come within an hour of the hour-before reminder."""
    if time_set_at is None or starts_at - time_set_at < DAY_BEFORE:
        return False
    if starts_at - now < DAY_REMINDER_LATEST:
        return False
    return starts_at.astimezone(TIMEZONE).date() == (now + DAY_BEFORE).astimezone(TIMEZONE).date()


async def time_set_at(session: AsyncSession, event: Event) -> datetime | None:
    """When the event got its present time and place: its announcement or latest change."""
    if event.revision == 0:
        return event.created_at
    return await session.scalar(
        select(Notification.not_before).where(
            Notification.source_key == f"event:{event.id}:update:{event.revision}"
        )
    )


def reminder_key(event: Event, which: str) -> str:
    """Stable per start time: a moved event is reminded again, an unmoved one never twice."""
    return f"event:{event.id}:reminder-{which}:{event.starts_at:%Y%m%dT%H%MZ}"


async def create_due_reminders(session: AsyncSession, now: datetime) -> list[int]:
    """Reminders for those who will attend; returns the new notifications' ids.

    Who answers later is added (or left out) by `answer_rsvp`, until the reminder goes.
    """
    soon = await session.scalars(
        select(Event).where(
            Event.status != EventStatus.CANCELLED.value,
            Event.starts_at > now,
            Event.starts_at <= now + DAY_BEFORE,
        )
    )
    created = []
    for event in list(soon):
        which = due_reminder(event, now, await time_set_at(session, event))
        if which is None:
            continue
        key = reminder_key(event, which)
        phase = f"reminder_{which}"
        if await _notify(session, event, phase, key, now, followers=False, answers=_ATTENDING):
            created.append(await session.scalar(_id_of(key)))
    return created


def _id_of(source_key: str):
    return select(Notification.id).where(Notification.source_key == source_key)


async def _follow_answer_in_reminders(
    session: AsyncSession, event: Event, subscriber: Subscriber, answer: RsvpAnswer, now: datetime
) -> None:
    """Reminders reach whoever attends when they go: a "yes" gets the reminder that is due
    now, any other answer drops the person's reminders still waiting to be sent."""
    keys = [reminder_key(event, which) for which in ("day", "hour")]
    mine = (
        Delivery.notification_id.in_(
            select(Notification.id).where(Notification.source_key.in_(keys))
        ),
        Delivery.subscriber_id == subscriber.id,
    )
    if answer is not RsvpAnswer.YES:
        waiting = (DeliveryState.PENDING.value, DeliveryState.HELD.value)
        await session.execute(
            update(Delivery)
            .where(*mine, Delivery.state.in_(waiting))
            .values(state=DeliveryState.SKIPPED.value, error=NOT_ATTENDING)
        )
        return
    which = due_reminder(event, now, await time_set_at(session, event))
    notification = which and await session.scalar(
        select(Notification).where(Notification.source_key == reminder_key(event, which))
    )
    if not notification:
        return  # not due yet: the job creates it for everyone attending then
    await _deliver(session, notification, [(subscriber.id, subscriber.chat_id)], now)
    await session.execute(
        update(Delivery)
        .where(
            Delivery.notification_id == notification.id,
            Delivery.subscriber_id == subscriber.id,
            Delivery.state == DeliveryState.SKIPPED.value,
            Delivery.error == NOT_ATTENDING,
        )
        .values(state=DeliveryState.PENDING.value, error=None, due_at=now)
    )


# --- RSVP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RsvpOutcome:
    event: Event | None
    answer: str | None = None
    reference: str | None = None
    cancelled: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def event_subject(event: Event) -> Subject:
    """The event as the subject of a participation record entry."""
    day = event.starts_at.date().isoformat()
    tags = tuple(sorted(set(event_tags(event))))
    return Subject(
        "event",
        str(event.id),
        f"{event.title('it')} ({day})",
        f"{event.title('en')} ({day})",
        tags,
        notification_kind=NotificationKind.EVENT.value,
    )


async def answer_rsvp(
    session: AsyncSession, subscriber: Subscriber, event_id: int, answer: RsvpAnswer, now: datetime
) -> RsvpOutcome:
    """One answer per person and event, recorded (pseudonymously, with consent) as "rsvp"."""
    event = await session.get(Event, event_id)
    if event is None:
        return RsvpOutcome(None)
    if event.status == EventStatus.CANCELLED:
        return RsvpOutcome(event, cancelled=True)
    rsvp = await session.get(EventRsvp, (event.id, subscriber.id))
    entry = await _record_entry(session, rsvp)
    if entry is None:
        participant = await participation.participant_of(session, subscriber)
        entry = await participation.add_entry(
            session,
            kind=EntryKind.RSVP,
            subject=event_subject(event),
            participant=participant,
            language=subscriber.language,
            now=now,
            value=answer.value,
        )
    elif entry.value != answer.value:
        entry.value, entry.changed_at = answer.value, now
    if rsvp is None:
        rsvp = EventRsvp(event_id=event.id, subscriber_id=subscriber.id)
        session.add(rsvp)
    rsvp.answer, rsvp.answered_at, rsvp.entry_id = answer.value, now, entry.id
    await session.flush()
    await _follow_answer_in_reminders(session, event, subscriber, answer, now)
    return RsvpOutcome(
        event, answer.value, entry.reference, counts=await rsvp_counts(session, event.id)
    )


async def _record_entry(session: AsyncSession, rsvp: EventRsvp | None) -> RecordEntry | None:
    if rsvp is None or rsvp.entry_id is None:
        return None
    return await session.get(RecordEntry, rsvp.entry_id)


async def rsvp_counts(session: AsyncSession, event_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(EventRsvp.answer, func.count())
        .where(EventRsvp.event_id == event_id)
        .group_by(EventRsvp.answer)
    )
    counts = {answer.value: 0 for answer in RsvpAnswer}
    counts.update({answer: count for answer, count in rows})
    return counts


async def answer_of(session: AsyncSession, subscriber: Subscriber, event_id: int) -> str | None:
    rsvp = await session.get(EventRsvp, (event_id, subscriber.id))
    return rsvp.answer if rsvp else None


# --- upcoming events for a person ---------------------------------------------------------


async def upcoming_for(
    session: AsyncSession, subscriber: Subscriber, now: datetime, limit: int = 10
) -> list[Event]:
    """Upcoming events about what the person follows; all upcoming when they follow nothing."""
    upcoming = list(
        await session.scalars(
            select(Event)
            .where(Event.starts_at >= now, Event.status != EventStatus.CANCELLED.value)
            .order_by(Event.starts_at, Event.id)
            .limit(500)
        )
    )
    followed = await _followed(session, subscriber)
    if not any(followed.values()):
        return upcoming[:limit]
    zone_of = dict((await session.execute(select(Comune.istat, Comune.zone_id))).all())
    return [e for e in upcoming if _concerns(e, followed, zone_of)][:limit]


async def _followed(session: AsyncSession, subscriber: Subscriber) -> dict[TargetKind, set[str]]:
    kinds = (TargetKind.ZONE, TargetKind.STRATEGY, TargetKind.COMUNE)
    return {kind: await subscriptions.followed_ids(session, subscriber, kind) for kind in kinds}


def _concerns(event: Event, followed: dict[TargetKind, set[str]], zone_of: dict) -> bool:
    """As targeting does: a zone's events concern its comuni's followers, and vice versa."""
    zones = set(event.zones) | {zone_of.get(event.comune_istat)}
    followed_zones = followed[TargetKind.ZONE] | {
        zone_of.get(istat) for istat in followed[TargetKind.COMUNE]
    }
    return bool(
        (zones & followed_zones) - {None}
        or set(event.strategies) & followed[TargetKind.STRATEGY]
        or event.comune_istat in followed[TargetKind.COMUNE]
    )
