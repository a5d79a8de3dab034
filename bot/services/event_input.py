"""Events as staff type them: local times (Europe/Rome), /newevent and /event lines.

/newevent 2026-12-03 17:30 | Incontro Tigullio | Chiavari, Società Economica | zone=tigullio
    strategy=S4 comune=010015 kind=meeting end=19:30 url=https://… en=Tigullio meeting
/event list [all]
/event change ID | WHEN | PLACE | end=HH:MM     (WHEN or PLACE may be empty: kept)
/event cancel ID
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Comune, EventKind, Strategy, Zone
from bot.i18n import N_, TIMEZONE
from bot.services.events import EventDraft, EventError
from feeds.classify import fold

_OPTION_NAMES = {"zone", "strategy", "comune", "kind", "end", "url", "en"}


def local_time(text: str) -> datetime:
    """ "2026-12-03 17:30" (or 2026-12-03T17:30) in Rome time, as an aware UTC datetime."""
    try:
        naive = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise EventError(
            N_("not a date and time (YYYY-MM-DD HH:MM): “{text}”"), text=text.strip()
        ) from None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=TIMEZONE).astimezone(UTC)


def end_time(text: str, starts_at: datetime) -> datetime:
    """An end given as HH:MM is on the start's day (in Rome); else a full date and time."""
    if len(text) <= 5 and ":" in text:
        try:
            hour, minute = (int(part) for part in text.split(":"))
            day: date = starts_at.astimezone(TIMEZONE).date()
            return datetime.combine(day, time(hour, minute), TIMEZONE).astimezone(UTC)
        except ValueError:
            raise EventError(N_("not a time (HH:MM): “{text}”"), text=text) from None
    return local_time(text)


def check_upcoming(starts_at: datetime, now: datetime) -> None:
    """Staff publish and move events into the future only (an import may bring history)."""
    if starts_at <= now:
        raise EventError(
            N_("the start given ({when}) is in the past: give a future date and time"),
            when=starts_at,
        )


def parse_staff_line(line: str) -> EventDraft:
    """`WHEN | TITLE [| PLACE] [| key=value …]`: one line is a whole event."""
    fields = [part.strip() for part in line.split("|")]
    if len(fields) < 2 or not fields[0] or not fields[1]:
        raise EventError(N_("write: YYYY-MM-DD HH:MM | title | place | zone=… strategy=…"))
    starts_at = local_time(fields[0])
    place = fields[2] if len(fields) > 2 and "=" not in fields[2] else None
    options = _options(" ".join(f for f in fields[2:] if "=" in f))
    return EventDraft(
        title_it=fields[1][:300],
        title_en=options.get("en", [None])[0],
        starts_at=starts_at,
        ends_at=end_time(options["end"][0], starts_at) if "end" in options else None,
        place=place[:300] if place else None,
        kind=_kind(options.get("kind", ["meeting"])[0]),
        zones=tuple(options.get("zone", ())),
        strategies=tuple(s.upper() for s in options.get("strategy", ())),
        comune_istat=options.get("comune", [None])[0],
        online_url=options.get("url", [None])[0],
    )


def _options(text: str) -> dict[str, list[str]]:
    """key=value words; `en=` takes the rest of its field (an English title has spaces)."""
    options: dict[str, list[str]] = {}
    key = None
    for word in text.split():
        name, sep, value = word.partition("=")
        if sep and name in _OPTION_NAMES:
            key = name
            options.setdefault(name, []).append(value)
        elif key == "en":
            options["en"][-1] += " " + word
        else:
            raise EventError(
                N_("unknown option “{option}” (zone, strategy, comune, kind, end, url, en)"),
                option=word,
            )
    return options


def _kind(value: str) -> EventKind:
    try:
        return EventKind(value)
    except ValueError:
        names = ", ".join(kind.value for kind in EventKind)
        raise EventError(N_("unknown kind “{kind}” ({names})"), kind=value, names=names) from None


async def check_targets(session: AsyncSession, draft: EventDraft) -> None:
    """Zones, strategies and comune must exist, or nobody would be told."""
    for model, ids, unknown in (
        (Zone, draft.zones, N_("unknown zone: {id}")),
        (Strategy, draft.strategies, N_("unknown strategy: {id}")),
        (Comune, (draft.comune_istat,) if draft.comune_istat else (), N_("unknown comune: {id}")),
    ):
        for target_id in ids:
            if await session.get(model, target_id) is None:
                raise EventError(unknown, id=target_id)


# --- /event list | change | cancel ------------------------------------------------------------


_EVENT_ID = re.compile(r"[0-9]{1,9}")  # ASCII digits, within a database integer


class EventUsageError(EventError):
    """A /event line of the wrong shape: the answer is the usage (its reason is not shown)."""


@dataclass(frozen=True)
class EventChange:
    """What `/event change` asks for; None keeps the event's value."""

    starts_at: datetime | None = None
    place: str | None = None
    end: str | None = None  # as typed: HH:MM on the (new) start's day, or a date and time


@dataclass(frozen=True)
class EventCommand:
    action: str  # "list", "change" or "cancel"
    event_id: int | None = None
    show_all: bool = False
    change: EventChange | None = None


def parse_event_command(line: str) -> EventCommand:
    """`list [all]`, `change ID | WHEN | PLACE | end=HH:MM`, `cancel ID` (empty: list).

    A line of the wrong shape raises EventUsageError; a bad time, EventError with the reason.
    """
    action, _space, rest = line.strip().partition(" ")
    rest = rest.strip()
    if action in ("", "list") and rest in ("", "all"):
        return EventCommand("list", show_all=rest == "all")
    if action == "cancel" and _EVENT_ID.fullmatch(rest):
        return EventCommand("cancel", event_id=int(rest))
    if action == "change":
        event_id, change = _parse_change(rest)
        return EventCommand("change", event_id=event_id, change=change)
    raise EventUsageError("not a /event command: “{line}”", line=line)


def _parse_change(text: str) -> tuple[int, EventChange]:
    fields = [field.strip() for field in text.split("|")]
    if len(fields) < 2 or not _EVENT_ID.fullmatch(fields[0]):
        raise EventUsageError("write: change ID | WHEN | PLACE | end=HH:MM")
    ends = []
    positional = []
    for field in fields[1:]:
        words = field.split()
        options = [word for word in words if word.startswith("end=")]
        if options:
            ends += [word.removeprefix("end=") for word in options]
            field = " ".join(word for word in words if not word.startswith("end="))
            if not field:
                continue
        positional.append(field)
    if len(positional) > 2 or len(ends) > 1 or (ends and not ends[0]):
        raise EventUsageError("write: change ID | WHEN | PLACE | end=HH:MM")
    when, place = [*positional, "", ""][:2]
    change = EventChange(
        starts_at=local_time(when) if when else None,
        place=place[:300] if place else None,
        end=ends[0] if ends else None,
    )
    if change == EventChange():
        raise EventUsageError("nothing to change")
    return int(fields[0]), change


def changed_draft(draft: EventDraft, change: EventChange) -> EventDraft:
    """The event with the change applied; a moved event keeps its length unless given an end."""
    starts_at = change.starts_at or draft.starts_at
    if change.end is not None:
        ends_at = end_time(change.end, starts_at)
    elif draft.ends_at is not None:
        ends_at = draft.ends_at + (starts_at - draft.starts_at)
    else:
        ends_at = None
    place = change.place if change.place is not None else draft.place
    return replace(draft, starts_at=starts_at, ends_at=ends_at, place=place)


def differences(before: EventDraft, after: EventDraft) -> list[str]:
    """Which of "time" (start or end), "place" and "comune" differ."""
    found = []
    if (before.starts_at, before.ends_at) != (after.starts_at, after.ends_at):
        found.append("time")
    if before.place != after.place:
        found.append("place")
    if before.comune_istat != after.comune_istat:
        found.append("comune")
    return found


async def following_the_place(
    session: AsyncSession, before: EventDraft, after: EventDraft
) -> EventDraft:
    """A comune tag follows a new place that names another comune of the area
    ("Rapallo, Villa Tigullio"); a place naming none keeps the tag, an untagged event stays so.
    """
    if after.place == before.place or not before.comune_istat:
        return after
    if after.comune_istat != before.comune_istat:
        return after  # given explicitly
    named = await comune_named_in(session, after.place)
    return replace(after, comune_istat=named) if named else after


async def comune_named_in(session: AsyncSession, place: str | None) -> str | None:
    """The ISTAT code of the comune one part of the place is ("Sala Ghio, Chiavari")."""
    parts = [fold(part).strip() for part in (place or "").split(",")]
    names = {
        fold(name): istat
        for istat, name in await session.execute(select(Comune.istat, Comune.name))
    }
    return next((names[part] for part in parts if part in names), None)
