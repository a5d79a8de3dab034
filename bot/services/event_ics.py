"""iCalendar (.ics): one event as a file to add to a calendar; calendars imported by UID.

Importing the same calendar again changes nothing and notifies nobody; a moved VEVENT is a
change, a cancelled one (STATUS:CANCELLED) a cancellation. A recurring VEVENT (RRULE, RDATE,
moved occurrences with RECURRENCE-ID) becomes one event per occurrence within
EXPANSION_HORIZON, each identified by its UID and planned start: a moved occurrence changes
its event, one taken out of the series (EXDATE) is cancelled, and a series is announced once,
with its first new occurrence. Calendars by URL are fetched like feeds (`FeedFetcher`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path

import httpx
import icalendar
import recurring_ical_events
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Event, EventSource, EventStatus
from bot.i18n import TIMEZONE
from bot.services import events
from bot.services.events import EventDraft
from feeds import policy
from feeds.fetch import FeedFetcher, FetchResult, FetchStatus

PRODID = "-//Citta Metropolitana di Genova//psm-bot//IT"
MAX_ICS_BYTES = 2_000_000
FETCH_TIMEOUT_S = 30.0
# Occurrences of a recurring event are imported from now until this far ahead.
EXPANSION_HORIZON = timedelta(days=365)
# Events (occurrences included) one calendar may bring: more is refused, not half imported.
MAX_EVENTS = 5_000
_UID_LENGTH = 255


class CalendarError(ValueError):
    pass


def to_ics(event: Event, language: str, now: datetime) -> bytes:
    """A calendar with this one event, times in UTC."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(_vevent(event, language, now))
    return calendar.to_ical()


def to_calendar(events: Iterable[Event], language: str, now: datetime, *, name: str) -> bytes:
    """A calendar to subscribe to: these events, times in Europe/Rome with its VTIMEZONE."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", str(TIMEZONE))
    vevents = [_vevent(event, language, now, TIMEZONE) for event in events]
    for vevent in vevents:
        calendar.add_component(vevent)
    if vevents:
        # Whole years, so that the VTIMEZONE carries Rome's clock changes around the events.
        years = [vevent.decoded(name).year for vevent in vevents for name in ("dtstart", "dtend")]
        calendar.add_missing_timezones(date(min(years), 1, 1), date(max(years) + 1, 1, 1))
    return calendar.to_ical()


def _vevent(event: Event, language: str, now: datetime, zone: tzinfo = UTC) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", now.astimezone(UTC))
    vevent.add("dtstart", event.starts_at.astimezone(zone))
    vevent.add("dtend", (event.ends_at or event.starts_at + timedelta(hours=2)).astimezone(zone))
    vevent.add("summary", event.title(language))
    vevent.add("sequence", event.revision)
    vevent.add("status", "CANCELLED" if event.status == EventStatus.CANCELLED else "CONFIRMED")
    if event.place:
        vevent.add("location", event.place)
    if event.online_url:
        vevent.add("url", event.online_url)
    if event.description(language):
        vevent.add("description", event.description(language))
    return vevent


def file_name(event: Event) -> str:
    return f"evento-{event.id}.ics"


# --- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedEvent:
    draft: EventDraft
    cancelled: bool
    series: str | None = None  # the UID of a recurring VEVENT, for each of its occurrences


@dataclass
class ImportReport:
    created: int = 0
    changed: int = 0
    cancelled: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


def parse_calendar(
    data: bytes,
    now: datetime,
    zones: tuple[str, ...] = (),
    strategies: tuple[str, ...] = (),
) -> list[ImportedEvent]:
    """The calendar's events, in order of start; recurring ones as occurrences from `now`."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as error:
        raise CalendarError(f"not an iCalendar file: {error}") from error
    vevents = [v for v in calendar.walk("VEVENT") if v.get("uid") and v.get("dtstart")]
    if len(vevents) > MAX_EVENTS:
        raise CalendarError(f"more than {MAX_EVENTS} events: not imported")
    recurring = {str(v["uid"]) for v in vevents if _recurs(v)}
    found = [
        _imported(vevent, zones, strategies)
        for vevent in vevents
        if str(vevent["uid"]) not in recurring
    ]
    if recurring:
        found += _occurrences(calendar, recurring, now, zones, strategies)
    return sorted(found, key=lambda item: (item.draft.starts_at, item.draft.uid))


def _recurs(vevent) -> bool:
    return any(vevent.get(name) for name in ("rrule", "rdate", "recurrence-id"))


def _occurrences(
    calendar, recurring: set[str], now: datetime, zones: tuple, strategies: tuple
) -> list[ImportedEvent]:
    try:
        expanded = _within_horizon(recurring_ical_events.of(calendar).after(now), now)
    except (ValueError, TypeError, KeyError) as error:
        raise CalendarError(f"cannot expand the recurring events: {error}") from error
    found = []
    for occurrence in expanded:
        series = str(occurrence.get("uid"))
        if series not in recurring or not occurrence.get("dtstart"):
            continue
        planned = occurrence.get("recurrence-id") and occurrence.decoded("recurrence-id")
        uid = occurrence_uid(series, _aware(planned or occurrence.decoded("dtstart")))
        found.append(_imported(occurrence, zones, strategies, uid=uid, series=series))
    return found


def _within_horizon(occurrences: Iterable[icalendar.Event], now: datetime) -> list[icalendar.Event]:
    """Occurrences (in order of start) until EXPANSION_HORIZON; at most MAX_EVENTS of them."""
    found: list[icalendar.Event] = []
    for occurrence in occurrences:
        if occurrence.get("dtstart") and _aware(occurrence.decoded("dtstart")) > (
            now + EXPANSION_HORIZON
        ):
            break
        if len(found) == MAX_EVENTS:
            raise CalendarError(f"more than {MAX_EVENTS} events within a year: not imported")
        found.append(occurrence)
    return found


def occurrence_uid(series: str, planned_start: datetime) -> str:
    """One occurrence's identity: the series' UID and the start it had in the series."""
    suffix = f"/{planned_start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return series[: _UID_LENGTH - len(suffix)] + suffix


def _imported(
    vevent,
    zones: tuple[str, ...],
    strategies: tuple[str, ...],
    *,
    uid: str | None = None,
    series: str | None = None,
) -> ImportedEvent:
    starts_at = _moment(vevent, "dtstart")
    ends_at = _moment(vevent, "dtend") if vevent.get("dtend") else None
    draft = EventDraft(
        uid=uid or str(vevent.get("uid"))[:_UID_LENGTH],
        title_it=str(vevent.get("summary") or "").strip()[:300] or "Evento",
        starts_at=starts_at,
        ends_at=ends_at if ends_at and ends_at >= starts_at else None,
        place=_text(vevent.get("location"), 300),
        online_url=_text(vevent.get("url"), 2048),
        description_it=_text(vevent.get("description"), 4000),
        zones=zones,
        strategies=strategies,
    )
    cancelled = str(vevent.get("status", "")).upper() == "CANCELLED"
    return ImportedEvent(draft, cancelled, series)


def _moment(vevent, name: str) -> datetime:
    """A VEVENT's DTSTART or DTEND as an aware time; CalendarError when it is not a time."""
    value = vevent.decoded(name)
    if not isinstance(value, date):
        uid = _text(vevent.get("uid"), 100) or "?"
        raise CalendarError(
            f"event {uid}: {name.upper()} {_text(value, 60)!r} is not a date or time"
        )
    return _aware(value)


def _text(value, limit: int) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text[:limit] or None


def _aware(value: datetime | date) -> datetime:
    """All-day dates start at midnight in Rome; floating times are Rome times."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=TIMEZONE)
    return value.astimezone(UTC)


async def import_calendar(
    session: AsyncSession,
    data: bytes,
    now: datetime,
    source: EventSource | None = None,
) -> ImportReport:
    zones = tuple(source.zones) if source else ()
    strategies = tuple(source.strategies) if source else ()
    report = ImportReport()
    # Parsing and expanding a large calendar takes seconds: off the event loop.
    items = await asyncio.to_thread(parse_calendar, data, now, zones, strategies)
    for item in items:
        outcome = await _import_one(session, item, now, source)
        setattr(report, outcome, getattr(report, outcome) + 1)
    report.cancelled += await _cancel_left_out(session, items, now)
    return report


async def _import_one(
    session: AsyncSession, item: ImportedEvent, now: datetime, source: EventSource | None
) -> str:
    uid = item.draft.uid
    if uid is None:
        raise ValueError("an imported event has no UID")  # parse_calendar always gives one
    event = await events.by_uid(session, uid)
    if event is None:
        if item.cancelled:
            return "unchanged"  # cancelled before anyone heard of it
        announce = item.series is None or not await _upcoming_of(session, item.series, now)
        event = await events.create(session, item.draft, now, announce=announce)
        event.source_id = source.id if source else None
        return "created"
    if item.cancelled:
        return "cancelled" if await events.cancel(session, event, now) else "unchanged"
    if _same(event, item.draft):
        return "unchanged"
    await events.change(session, event, _keeping_tags(event, item.draft), now)
    return "changed"


async def _upcoming_of(session: AsyncSession, series: str, now: datetime) -> list[Event]:
    """The series' stored occurrences still to come (within the horizon)."""
    prefix = occurrence_uid(series, now)[: -len("20260101T000000Z")]
    return list(
        await session.scalars(
            select(Event).where(
                Event.uid.startswith(prefix, autoescape=True),
                Event.starts_at > now,
                Event.starts_at <= now + EXPANSION_HORIZON,
                Event.status != EventStatus.CANCELLED.value,
            )
        )
    )


async def _cancel_left_out(session: AsyncSession, items: list[ImportedEvent], now: datetime) -> int:
    """Cancel the upcoming occurrences a series no longer has (EXDATE, a shorter RRULE)."""
    present = {item.draft.uid for item in items}
    cancelled = 0
    for series in sorted({item.series for item in items if item.series}):
        for event in await _upcoming_of(session, series, now):
            if event.uid not in present and await events.cancel(session, event, now):
                cancelled += 1
    return cancelled


def _same(event: Event, draft: EventDraft) -> bool:
    return (
        event.title_it == draft.title_it
        and event.starts_at == draft.starts_at
        and event.ends_at == draft.ends_at
        and event.place == draft.place
        and event.online_url == draft.online_url
        and event.description_it == draft.description_it
    )


def _keeping_tags(event: Event, draft: EventDraft) -> EventDraft:
    """What staff added by hand (tags, English title, comune) survives a new import."""
    kept = events.draft_of(event)
    return EventDraft(
        **{
            **kept.__dict__,
            "title_it": draft.title_it,
            "starts_at": draft.starts_at,
            "ends_at": draft.ends_at,
            "place": draft.place,
            "online_url": draft.online_url,
            "description_it": draft.description_it,
        }
    )


# --- sources polled by URL ------------------------------------------------------------------


async def add_source(
    session: AsyncSession, url: str, zones: tuple[str, ...] = (), strategies: tuple[str, ...] = ()
) -> EventSource:
    source = await session.scalar(select(EventSource).where(EventSource.url == url))
    if source is None:
        source = EventSource(url=url, zones=list(zones), strategies=list(strategies))
        session.add(source)
        await session.flush()
    return source


async def list_sources(session: AsyncSession) -> list[EventSource]:
    return list(await session.scalars(select(EventSource).order_by(EventSource.id)))


def calendar_fetcher(client: httpx.AsyncClient | None = None) -> FeedFetcher:
    """Calendars come like feeds: size cap, time limit, recorded redirects, conditional GET."""
    return FeedFetcher(client, timeout=FETCH_TIMEOUT_S, max_bytes=MAX_ICS_BYTES)


def fetched_calendar(result: FetchResult) -> bytes | None:
    """The calendar fetched; None when not modified; CalendarError when it could not be."""
    if result.status is FetchStatus.NOT_MODIFIED:
        return None
    if result.status is not FetchStatus.OK or result.content is None:
        raise CalendarError(result.error.message if result.error else "no calendar")
    return result.content


def read_calendar_file(path: Path) -> bytes:
    """A calendar file, refused unread when larger than a fetched one may be."""
    with path.open("rb") as file:
        data = file.read(MAX_ICS_BYTES + 1)
    if len(data) > MAX_ICS_BYTES:
        raise CalendarError(f"{path.name}: larger than {MAX_ICS_BYTES} bytes")
    return data


async def fetch(url: str) -> bytes:
    """One calendar by URL, unconditionally (the command line)."""
    async with calendar_fetcher() as fetcher:
        result = await fetcher.fetch(url)
    try:
        return fetched_calendar(result) or b""
    except CalendarError as error:
        raise CalendarError(f"{url}: {error}") from error


def poll_delay(every: timedelta, failures: int) -> timedelta:
    """As for feeds: the interval when healthy, doubled for each failure in a row."""
    seconds = policy.next_poll_delay(every.total_seconds(), failures)
    return timedelta(seconds=seconds)


async def due_sources(
    session: AsyncSession, now: datetime, every: timedelta, failures: dict[int, int] | None = None
) -> list[EventSource]:
    """The sources whose time has come; one that failed `failures[id]` times waits longer."""
    failures = failures or {}
    return [
        source
        for source in await list_sources(session)
        if source.last_polled_at is None
        or source.last_polled_at <= now - poll_delay(every, failures.get(source.id, 0))
    ]


async def follow_move(session: AsyncSession, source: EventSource, result: FetchResult) -> None:
    """A calendar moved for good (301/308) is fetched at its new address from now on."""
    target = result.permanent_redirect_to
    if target and target != source.url:
        taken = await session.scalar(select(EventSource.id).where(EventSource.url == target))
        if taken is None:
            source.url = target


def record_poll(source: EventSource, now: datetime, error: str | None) -> None:
    source.last_polled_at, source.last_error = now, (error or None) and error[:500]
