"""`python -m bot broadcast …`: staff broadcasts from the command line.

    broadcast --text "…" [--zone tigullio] [--strategy S1] [--comune 010025] [--action A1]
              [--category comune] [--language it] [--at "2026-12-01 09:00"]
              [--photo URL | --document URL]               (no target: everyone)
    broadcast list                                             (scheduled, not yet sent)
    broadcast cancel ID

Times are Rome times. Bad input gives one line on stderr and exit code 2, in English from the
same catalog as the staff's answers in Telegram.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from datetime import datetime
from pathlib import Path

from bot.cli.feature import EXIT_BAD_INPUT, Commands, with_database
from bot.config import Settings
from bot.db.engine import Database
from bot.db.models import TargetKind, utcnow
from bot.i18n import TIMEZONE, _, use_locale
from bot.services import broadcasts, staff
from bot.services.broadcasts import Audience, BroadcastError, Media

OPERATOR_LANGUAGE = "en"
CLI_ACTOR = 0  # the audit log's actor for the command line
_FILE_REFERENCE = re.compile(r"^(https://\S+|[A-Za-z0-9_-]{20,255})$")


def add_parser(commands: Commands) -> None:
    """Add `broadcast` to the subcommands of `python -m bot`: one command, its action optional
    (none: send), so that `--text` needs no action word before it."""
    parser = commands.add_parser("broadcast", help="send or schedule a staff broadcast")
    parser.add_argument("subcommand", nargs="*", metavar="list | cancel ID")
    parser.add_argument("--text", help="the message, in Telegram HTML")
    for kind in ("zone", "strategy", "comune", "action"):
        parser.add_argument(f"--{kind}", action="append", default=[], metavar="ID")
    parser.add_argument(
        "--category",
        action="append",
        default=[],
        choices=broadcasts.CATEGORIES,
        help="only participants who declared this stakeholder category",
    )
    parser.add_argument("--language", choices=["it", "en"])
    media = parser.add_mutually_exclusive_group()
    media.add_argument("--photo", metavar="URL", help="an https URL or a Telegram file id")
    media.add_argument("--document", metavar="URL", help="an https URL or a Telegram file id")
    parser.add_argument("--at", metavar='"YYYY-MM-DD HH:MM"', help="Rome time; default now")


def audience_of(args: argparse.Namespace) -> Audience:
    targets = {
        (kind.value, value.upper() if kind is TargetKind.STRATEGY else value)
        for kind in TargetKind
        for value in getattr(args, kind.value)
    }
    return Audience(
        everyone=not targets, targets=targets, language=args.language, categories=set(args.category)
    )


def media_of(args: argparse.Namespace) -> Media | None:
    """A photo or document by URL or file id: a local file has no file id until uploaded."""
    kind, reference = ("photo", args.photo) if args.photo else ("document", args.document)
    if not reference:
        return None
    if Path(reference).exists() or not _FILE_REFERENCE.match(reference):
        raise BroadcastError(
            _("{reference}: give an https URL or a Telegram file id").format(reference=reference)
        )
    name = reference.rsplit("/", 1)[-1] if reference.startswith("https://") else None
    return Media(kind, reference, name)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `broadcast` action; 0 when done, 2 for bad input (explained on stderr)."""
    async with with_database(settings) as db:
        try:
            with use_locale(OPERATOR_LANGUAGE):
                return await _dispatch(args, db)
        except BroadcastError as error:
            _refuse(str(error))
            return EXIT_BAD_INPUT


def _refuse(reason: str) -> None:
    print(f"psm-bot broadcast: {reason}", file=sys.stderr)


async def _dispatch(args: argparse.Namespace, db: Database) -> int:
    words: list[str] = args.subcommand
    if words == ["list"]:
        return await _list(db)
    if len(words) == 2 and words[0] == "cancel" and words[1].isdigit():
        return await _cancel(db, int(words[1]))
    if not words and (args.text or args.photo or args.document):
        return await _send(db, args)
    _refuse(_("use --text, list, or cancel ID"))
    return EXIT_BAD_INPUT


async def _send(db: Database, args: argparse.Namespace) -> int:
    now = utcnow()
    at = _future_time(args.at, now) if args.at else None
    audience, media = audience_of(args), media_of(args)
    async with db.transaction() as session:
        await broadcasts.check_audience(session, audience)
        count = await broadcasts.count_recipients(session, audience)
        notification, _created = await broadcasts.enqueue(
            session, secrets.token_hex(4), args.text or "", audience, at, media
        )
        staff.audit(session, CLI_ACTOR, "broadcast", now, notification_id=notification.id)
    when = at.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M") if at else "now"
    print(f"broadcast {notification.id}: {count} recipients, {when}")
    return 0


def _future_time(text: str, now) -> datetime:
    try:
        return broadcasts.parse_time(text, now)
    except BroadcastError:
        raise BroadcastError(_("not a future Rome time: {text}").format(text=text)) from None


async def _list(db: Database) -> int:
    async with db.transaction() as session:
        rows = await broadcasts.scheduled(session, utcnow())
    for row in rows:
        when = row.not_before.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")
        print(f"{row.id}  {when}  {row.payload.get('title', '')}")
    if not rows:
        print("no scheduled broadcasts")
    return 0


async def _cancel(db: Database, notification_id: int) -> int:
    async with db.transaction() as session:
        cancelled = await broadcasts.cancel(session, notification_id)
        if cancelled:
            staff.audit(
                session, CLI_ACTOR, "cancel_broadcast", utcnow(), notification_id=notification_id
            )
    if not cancelled:
        _refuse(_("{id} is not a scheduled broadcast").format(id=notification_id))
        return EXIT_BAD_INPUT
    print(f"broadcast {notification_id} cancelled")
    return 0
