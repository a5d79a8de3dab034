"""`python -m bot record …`: the participation record for the plan's office.

    record export --format csv|xlsx [--from DATE] [--to DATE] [--strategy S1] [--action A]
                  [--zone tigullio] [--output FILE]
    record summary [same filters]
    record hide REFERENCE [--reason R] | unhide REFERENCE
    record verify PSEUDONYM [--revoke]

Without --output the export goes to standard output. Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import BinaryIO

from bot.cli.feature import EXIT_BAD_INPUT, Commands, with_database
from bot.config import Settings
from bot.db.engine import Database
from bot.db.models import utcnow
from bot.services import record
from bot.services.record import Format, RecordFilter


def add_parser(commands: Commands) -> None:
    """Add `record` and its actions to the subcommands of `python -m bot`."""
    parser = commands.add_parser("record", help="the plan's participation record")
    actions = parser.add_subparsers(dest="subcommand", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="entries as CSV or XLSX")
    export.add_argument("--format", choices=[f.value for f in Format], default=Format.CSV.value)
    export.add_argument("--output", type=Path, metavar="FILE", help="default: standard output")
    _filter_options(export)
    _filter_options(actions.add_parser("summary", help="entries per subject"))
    hide = actions.add_parser("hide", help="hide an abusive entry (kept, marked)")
    hide.add_argument("reference")
    hide.add_argument("--reason", default="")
    actions.add_parser("unhide", help="show a hidden entry again").add_argument("reference")
    verify = actions.add_parser("verify", help="mark a participant's organisation verified")
    verify.add_argument("pseudonym")
    verify.add_argument("--revoke", action="store_true", help="no longer verified")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _filter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="date_from", type=_day, metavar="DATE")
    parser.add_argument("--to", dest="date_to", type=_day, metavar="DATE")
    parser.add_argument("--strategy", metavar="ID", help="for example S1")
    parser.add_argument("--action", metavar="ID")
    parser.add_argument("--zone", metavar="ID", help="about or from the zone, e.g. tigullio")


def record_filter(args: argparse.Namespace) -> RecordFilter:
    return RecordFilter(
        date_from=args.date_from,
        date_to=args.date_to,
        strategy=args.strategy,
        action=args.action,
        zone=args.zone,
    )


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `record` action; 0 when done, 2 for bad input (explained on stderr)."""
    async with with_database(settings) as db:
        return await execute(args, db, sys.stdout.buffer)


async def execute(args: argparse.Namespace, db: Database, out: BinaryIO) -> int:
    """Run one `record` action against this database, writing to `out`."""
    action = _ACTIONS[args.subcommand]
    async with db.transaction() as session:
        message, code = await action(session, args, out)
    if message:
        print(message, file=sys.stderr if code else sys.stdout)
    return code


async def _export(session, args, out: BinaryIO) -> tuple[str, int]:
    file_format = Format(args.format)
    if args.output is None and file_format is Format.XLSX and out.isatty():
        return "psm-bot record: an XLSX file needs --output FILE", EXIT_BAD_INPUT
    rows = await record.select_entries(session, record_filter(args))
    content = record.export(rows, file_format)
    if args.output is None:
        out.write(content)
        out.flush()
        return "", 0
    args.output.write_bytes(content)
    return f"{len(rows)} entries written to {args.output}", 0


async def _summary(session, args, out: BinaryIO) -> tuple[str, int]:
    items = await record.summary(session, record_filter(args))
    lines = record.summary_lines(items) or ["the participation record has no entries yet"]
    out.write(("\n".join(lines) + "\n").encode("utf-8"))
    out.flush()
    return "", 0


async def _hide(session, args, out: BinaryIO) -> tuple[str, int]:
    entry = await record.find_entry(session, args.reference)
    if entry is None:
        return f"psm-bot record: no entry {args.reference}", EXIT_BAD_INPUT
    record.hide(entry, args.reason, None, utcnow())
    return f"{entry.reference} hidden (kept in the record, marked)", 0


async def _unhide(session, args, out: BinaryIO) -> tuple[str, int]:
    entry = await record.find_entry(session, args.reference)
    if entry is None:
        return f"psm-bot record: no entry {args.reference}", EXIT_BAD_INPUT
    record.unhide(entry)
    return f"{entry.reference} visible again", 0


async def _verify(session, args, out: BinaryIO) -> tuple[str, int]:
    verified = not args.revoke
    participant = await record.set_verified(session, args.pseudonym, verified, None, utcnow())
    if participant is None:
        return f"psm-bot record: no participant {args.pseudonym}", EXIT_BAD_INPUT
    state = "verified" if verified else "no longer verified"
    return f"{participant.pseudonym}: organisation {participant.organisation!r} {state}", 0


_ACTIONS = {
    "export": _export,
    "summary": _summary,
    "hide": _hide,
    "unhide": _unhide,
    "verify": _verify,
}
