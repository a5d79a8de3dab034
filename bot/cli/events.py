"""`python -m bot events …`: the plan's events for the staff, as plain text.

    events add --start "2026-12-03 17:30" --title "Incontro" [--title-en T] [--end 19:30]
               [--place P] [--comune 010015] [--zone tigullio] [--strategy S4] [--kind meeting]
               [--url URL] [--description D]
    events list [--all]
    events change ID [--start …] [--end …] [--place …] [--title …] …
    events cancel ID
    events import-ics URL|FILE [--zone …] [--strategy …]    (a URL is then polled by the bot)

Times are Rome times. Bad input gives one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from bot.cli.feature import EXIT_BAD_INPUT, Commands, with_database
from bot.config import Settings
from bot.db.engine import Database
from bot.db.models import Event, EventKind, utcnow
from bot.i18n import TIMEZONE
from bot.services import event_ics, event_input, events
from bot.services.events import EventDraft, EventError


def add_parser(commands: Commands) -> None:
    """Add `events` and its actions to the subcommands of `python -m bot`."""
    parser = commands.add_parser("events", help="the plan's meetings, reviews and deadlines")
    actions = parser.add_subparsers(dest="subcommand", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="publish an event and announce it to its followers")
    _detail_options(add, required=True)
    listing = actions.add_parser("list", help="upcoming events (--all: past ones too)")
    listing.add_argument("--all", action="store_true")
    change = actions.add_parser("change", help="change an event; a new time or place is notified")
    change.add_argument("id", type=int, metavar="ID")
    _detail_options(change, required=False)
    cancel = actions.add_parser("cancel", help="cancel an event and tell who was interested")
    cancel.add_argument("id", type=int, metavar="ID")
    ics = actions.add_parser("import-ics", help="import an iCalendar file, or follow its URL")
    ics.add_argument("location", metavar="URL|FILE")
    ics.add_argument("--zone", action="append", default=[], metavar="ID")
    ics.add_argument("--strategy", action="append", default=[], metavar="ID")


def _detail_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--start", required=required, help='Rome time, "YYYY-MM-DD HH:MM"')
    parser.add_argument("--title", required=required, help="title in Italian")
    parser.add_argument("--title-en", help="title in English")
    parser.add_argument("--end", help='"HH:MM" on the same day, or "YYYY-MM-DD HH:MM"')
    parser.add_argument("--place")
    parser.add_argument("--comune", metavar="ISTAT")
    parser.add_argument("--zone", action="append", metavar="ID")
    parser.add_argument("--strategy", action="append", metavar="ID")
    parser.add_argument("--kind", choices=[kind.value for kind in EventKind])
    parser.add_argument("--url", help="link to join online")
    parser.add_argument("--description")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `events` action; 0 when done, 2 for bad input (explained on stderr)."""
    async with with_database(settings) as db:
        try:
            return await _ACTIONS[args.subcommand](args, db)
        except (EventError, event_ics.CalendarError, OSError) as error:
            print(f"psm-bot: events: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT


def _draft(args: argparse.Namespace, base: EventDraft | None) -> EventDraft:
    draft = base or EventDraft(title_it="", starts_at=event_input.local_time(args.start))
    changes: dict = {}
    if args.start:
        changes["starts_at"] = event_input.local_time(args.start)
    starts_at = changes.get("starts_at", draft.starts_at)
    if args.end:
        changes["ends_at"] = event_input.end_time(args.end, starts_at)
    simple = {
        "title": "title_it",
        "title_en": "title_en",
        "place": "place",
        "comune": "comune_istat",
        "url": "online_url",
        "description": "description_it",
    }
    changes.update(
        {field: getattr(args, arg) for arg, field in simple.items() if getattr(args, arg)}
    )
    if args.kind:
        changes["kind"] = EventKind(args.kind)
    if args.zone:
        changes["zones"] = tuple(args.zone)
    if args.strategy:
        changes["strategies"] = tuple(s.upper() for s in args.strategy)
    return replace(draft, **changes)


async def _add(args: argparse.Namespace, db: Database) -> int:
    async with db.transaction() as session:
        draft, now = _draft(args, None), utcnow()
        event_input.check_upcoming(draft.starts_at, now)
        await event_input.check_targets(session, draft)
        event = await events.create(session, draft, now)
        print(f"event {event.id} published: {_line(event)}")
    return 0


async def _list(args: argparse.Namespace, db: Database) -> int:
    async with db.transaction() as session:
        rows = await events.list_events(session, since=None if args.all else utcnow(), limit=500)
        counts = {event.id: await events.rsvp_counts(session, event.id) for event in rows}
    for event in rows:
        answers = counts[event.id]
        print(
            f"{_line(event)}  [yes {answers['yes']}, maybe {answers['maybe']}, no {answers['no']}]"
        )
    if not rows:
        print("no events")
    return 0


async def _change(args: argparse.Namespace, db: Database) -> int:
    async with db.transaction() as session:
        event = await _existing(session, args.id)
        before, now = events.draft_of(event), utcnow()
        draft = await event_input.following_the_place(session, before, _draft(args, before))
        if draft.starts_at != event.starts_at:
            event_input.check_upcoming(draft.starts_at, now)
        await event_input.check_targets(session, draft)
        notified = await events.change(session, event, draft, now)
        print(f"event {event.id} changed{' and notified' if notified else ''}: {_line(event)}")
    return 0


async def _cancel(args: argparse.Namespace, db: Database) -> int:
    async with db.transaction() as session:
        event = await _existing(session, args.id)
        cancelled = await events.cancel(session, event, utcnow())
        print(f"event {event.id} {'cancelled' if cancelled else 'was already cancelled'}")
    return 0


async def _import_ics(args: argparse.Namespace, db: Database) -> int:
    location, zones, strategies = args.location, tuple(args.zone), tuple(args.strategy)
    is_url = location.startswith(("http://", "https://"))
    if is_url:
        data = await event_ics.fetch(location)
    else:
        data = await asyncio.to_thread(event_ics.read_calendar_file, Path(location))
    async with db.transaction() as session:
        source = (
            await event_ics.add_source(session, location, zones, strategies) if is_url else None
        )
        if source is None:
            source = event_ics.EventSource(zones=list(zones), strategies=list(strategies))
        report = await event_ics.import_calendar(session, data, utcnow(), source)
        if is_url:
            event_ics.record_poll(source, utcnow(), None)
    print(
        f"imported: {report.created} new, {report.changed} changed, "
        f"{report.cancelled} cancelled, {report.unchanged} unchanged"
        + ("; the bot polls this calendar from now on" if is_url else "")
    )
    return 0


async def _existing(session, event_id: int) -> Event:
    event = await events.get(session, event_id)
    if event is None:
        raise EventError("there is no event {id}", id=event_id)
    return event


def _line(event: Event) -> str:
    start = event.starts_at.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")
    where = f" @ {event.place}" if event.place else ""
    return f"#{event.id} {start} {event.title_it}{where} ({event.kind}, {event.status})"


_ACTIONS = {
    "add": _add,
    "list": _list,
    "change": _change,
    "cancel": _cancel,
    "import-ics": _import_ics,
}
