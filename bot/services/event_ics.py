"""iCalendar (.ics): one event as a file to add to a calendar; calendars imported by UID.

Importing the same calendar again changes nothing and notifies nobody; a moved VEVENT is a
change, a cancelled one (STATUS:CANCELLED) a cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import httpx
import icalendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Event, EventSource, EventStatus
from bot.i18n import TIMEZONE
from bot.services import events
from bot.services.events import EventDraft

PRODID = "-//Citta Metropolitana di Genova//psm-bot//IT"
MAX_ICS_BYTES = 2_000_000


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


def _vevent(event: Event, language: str, now: datetime) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", now.astimezone(UTC))
    vevent.add("dtstart", event.starts_at.astimezone(UTC))
    vevent.add("dtend", (event.ends_at or event.starts_at + timedelta(hours=2)).astimezone(UTC))
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


@dataclass
class ImportReport:
    created: int = 0
    changed: int = 0
    cancelled: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


def parse_calendar(
    data: bytes, zones: tuple[str, ...] = (), strategies: tuple[str, ...] = ()
) -> list[ImportedEvent]:
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as error:
        raise CalendarError(f"not an iCalendar file: {error}") from error
    return [
        _imported(vevent, zones, strategies)
        for vevent in calendar.walk("VEVENT")
        if vevent.get("uid") and vevent.get("dtstart") and not vevent.get("recurrence-id")
    ]


def _imported(vevent, zones: tuple[str, ...], strategies: tuple[str, ...]) -> ImportedEvent:
    starts_at = _aware(vevent.decoded("dtstart"))
    ends_at = _aware(vevent.decoded("dtend")) if vevent.get("dtend") else None
    draft = EventDraft(
        uid=str(vevent.get("uid"))[:255],
        title_it=str(vevent.get("summary") or "").strip()[:300] or "Evento",
        starts_at=starts_at,
        ends_at=ends_at if ends_at and ends_at >= starts_at else None,
        place=_text(vevent.get("location"), 300),
        online_url=_text(vevent.get("url"), 2048),
        description_it=_text(vevent.get("description"), 4000),
        zones=zones,
        strategies=strategies,
    )
    return ImportedEvent(draft, str(vevent.get("status", "")).upper() == "CANCELLED")


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
    for item in parse_calendar(data, zones, strategies):
        outcome = await _import_one(session, item, now, source)
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


async def _import_one(
    session: AsyncSession, item: ImportedEvent, now: datetime, source: EventSource | None
) -> str:
    event = await events.by_uid(session, item.draft.uid)
    if event is None:
        event = await events.create(session, item.draft, now)
        event.source_id = source.id if source else None
        if item.cancelled:
            await events.cancel(session, event, now)
        return "created"
    if item.cancelled:
        return "cancelled" if await events.cancel(session, event, now) else "unchanged"
    if _same(event, item.draft):
        return "unchanged"
    await events.change(session, event, _keeping_tags(event, item.draft), now)
    return "changed"


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


async def fetch(url: str, client: httpx.AsyncClient | None = None) -> bytes:
    if client is None:
        async with httpx.AsyncClient(headers={"User-Agent": "psm-bot"}) as own:
            return await _get(own, url)
    return await _get(client, url)


async def _get(client: httpx.AsyncClient, url: str) -> bytes:
    response = await client.get(url, follow_redirects=True, timeout=30)
    response.raise_for_status()
    if len(response.content) > MAX_ICS_BYTES:
        raise CalendarError(f"calendar larger than {MAX_ICS_BYTES} bytes")
    return response.content


async def due_sources(session: AsyncSession, now: datetime, every: timedelta) -> list[EventSource]:
    sources = await list_sources(session)
    return [s for s in sources if s.last_polled_at is None or s.last_polled_at <= now - every]


def record_poll(source: EventSource, now: datetime, error: str | None) -> None:
    source.last_polled_at, source.last_error = now, (error or None) and error[:500]
