"""Events as staff type them: local times (Europe/Rome) and the one-line /newevent syntax.

/newevent 2026-12-03 17:30 | Incontro Tigullio | Chiavari, Società Economica | zone=tigullio
    strategy=S4 comune=010015 kind=meeting end=19:30 url=https://… en=Tigullio meeting
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Comune, EventKind, Strategy, Zone
from bot.i18n import TIMEZONE
from bot.services.events import EventDraft, EventError

_OPTION_NAMES = {"zone", "strategy", "comune", "kind", "end", "url", "en"}


def local_time(text: str) -> datetime:
    """ "2026-12-03 17:30" (or 2026-12-03T17:30) in Rome time, as an aware UTC datetime."""
    try:
        naive = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise EventError(f"not a date and time (YYYY-MM-DD HH:MM): {text!r}") from None
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
            raise EventError(f"not a time (HH:MM): {text!r}") from None
    return local_time(text)


def parse_staff_line(line: str) -> EventDraft:
    """`WHEN | TITLE [| PLACE] [| key=value …]`: one line is a whole event."""
    fields = [part.strip() for part in line.split("|")]
    if len(fields) < 2 or not fields[0] or not fields[1]:
        raise EventError("write: YYYY-MM-DD HH:MM | title | place | zone=… strategy=…")
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
                f"unknown option {word!r} (zone, strategy, comune, kind, end, url, en)"
            )
    return options


def _kind(value: str) -> EventKind:
    try:
        return EventKind(value)
    except ValueError:
        names = ", ".join(kind.value for kind in EventKind)
        raise EventError(f"unknown kind {value!r} ({names})") from None


async def check_targets(session: AsyncSession, draft: EventDraft) -> None:
    """Zones, strategies and comune must exist, or nobody would be told."""
    for model, ids, what in (
        (Zone, draft.zones, "zone"),
        (Strategy, draft.strategies, "strategy"),
        (Comune, (draft.comune_istat,) if draft.comune_istat else (), "comune"),
    ):
        for target_id in ids:
            if await session.get(model, target_id) is None:
                raise EventError(f"unknown {what}: {target_id}")
