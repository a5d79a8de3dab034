"""`python -m bot feeds …`: the feed registry for operators, as plain text.

    feeds add URL [--title T] [--language it] [--strategy S1] [--zone tigullio]
                  [--interval 600] [--backlog 0]
    feeds list | remove ID | pause ID [--reason R] | resume ID
    feeds import-opml FILE [--strategy …] [--zone …] [--interval …]
    feeds export-opml [FILE]
    feeds poll [ID]

Bad input gives one line on stderr and exit code 2. Operators read English: the reasons come
from the same catalog as the staff's answers in Telegram.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.cli.feature import EXIT_BAD_INPUT, Commands, with_database
from bot.config import Settings
from bot.db.engine import Database
from bot.db.models import Feed, utcnow
from bot.i18n import _, use_locale
from bot.services import feed_registry
from bot.services.feed_poller import FeedPoller, FeedPollResult, PollReport, active_feed_ids
from bot.services.feed_registry import FeedError, FeedSpec
from bot.services.feed_rules import FeedRulesError
from feeds import policy

OPERATOR_LANGUAGE = "en"


def add_parser(commands: Commands) -> None:
    """Add `feeds` and its actions to the subcommands of `python -m bot`."""
    parser = commands.add_parser("feeds", help="news feeds (RSS/Atom) the bot follows")
    actions = parser.add_subparsers(dest="subcommand", metavar="ACTION", required=True)
    _add_parser_for_add(actions)
    actions.add_parser("list", help="the feeds, with their state")
    pause = _with_id(actions.add_parser("pause", help="stop polling a feed until resumed"))
    pause.add_argument("--reason", default=feed_registry.OPERATOR_PAUSE_REASON)
    _with_id(actions.add_parser("resume", help="poll a paused feed again"))
    _with_id(actions.add_parser("remove", help="stop following a feed"))
    opml_in = actions.add_parser("import-opml", help="follow every feed of an OPML file")
    opml_in.add_argument("file", type=Path, metavar="FILE")
    _tag_options(opml_in)
    opml_out = actions.add_parser("export-opml", help="write the feeds as OPML (to FILE or stdout)")
    opml_out.add_argument("file", type=Path, nargs="?", metavar="FILE")
    poll = actions.add_parser("poll", help="poll one feed, or every active feed, now")
    poll.add_argument("id", type=int, nargs="?", metavar="ID")


def _add_parser_for_add(actions: Commands) -> None:
    add = actions.add_parser("add", help="follow a feed")
    add.add_argument("url", metavar="URL")
    add.add_argument("--title", help="name shown under each news (default: the feed's own)")
    add.add_argument("--language", help="language of the feed, such as it or en")
    add.add_argument(
        "--backlog",
        type=int,
        default=0,
        metavar="N",
        help="notify the newest N items already in the feed (default 0)",
    )
    _tag_options(add)


def _with_id(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("id", type=int, metavar="ID")
    return parser


def _tag_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strategy",
        action="append",
        metavar="ID",
        help="tag every item with this strategy (repeatable, or S1,S2)",
    )
    parser.add_argument(
        "--zone",
        action="append",
        metavar="ID",
        help="tag every item with this zone (repeatable, or a,b)",
    )
    parser.add_argument(
        "--interval",
        type=int,
        default=policy.DEFAULT_INTERVAL_S,
        metavar="SECONDS",
        help=f"seconds between polls (default {policy.DEFAULT_INTERVAL_S}, "
        f"at least {policy.MIN_INTERVAL_S})",
    )


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `feeds` action; 0 when done, 2 for bad input (explained on stderr)."""
    with use_locale(OPERATOR_LANGUAGE):
        return await _run(args, settings)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    action = _ACTIONS[args.subcommand]
    try:
        opml = _read_opml(args.file) if args.subcommand == "import-opml" else None
        async with with_database(settings) as db:
            return await action(_Context(args, settings, db, opml))
    except (FeedError, FeedRulesError) as error:
        print(f"psm-bot feeds: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


class _Context:
    def __init__(
        self, args: argparse.Namespace, settings: Settings, db: Database, opml: bytes | None
    ) -> None:
        self.args = args
        self.settings = settings
        self.db = db
        self.opml = opml

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz


def _read_opml(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        reason = error.strerror or error
        raise FeedError(
            _("cannot read {path}: {reason}").format(path=path, reason=reason)
        ) from None


def _split_ids(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(
        part.strip() for value in values or () for part in value.split(",") if part.strip()
    )


def _spec(args: argparse.Namespace, url: str = "") -> FeedSpec:
    return FeedSpec(
        url=url,
        title=getattr(args, "title", None),
        language=getattr(args, "language", None),
        strategies=_split_ids(args.strategy),
        zones=_split_ids(args.zone),
        interval_s=args.interval,
        first_poll_backlog=getattr(args, "backlog", 0),
    )


# ------------------------------------------------------------------------ actions


async def _add(context: _Context) -> int:
    async with context.db.transaction() as session:
        feed = await feed_registry.add_feed(
            session, _spec(context.args, context.args.url), now=utcnow()
        )
    print(f"added feed #{feed.id}: {feed.url}")
    print(f"  the running bot polls it within a minute; now: python -m bot feeds poll {feed.id}")
    return 0


async def _list(context: _Context) -> int:
    async with context.db.transaction() as session:
        feeds = await feed_registry.list_feeds(session)
    if not feeds:
        print("no feeds yet: add one with `python -m bot feeds add URL`")
    for feed in feeds:
        print(describe(feed, context.tz))
    return 0


async def _remove(context: _Context) -> int:
    async with context.db.transaction() as session:
        feed = await feed_registry.remove_feed(session, context.args.id)
    print(f"removed feed #{feed.id}: {feed.url}")
    return 0


async def _pause(context: _Context) -> int:
    async with context.db.transaction() as session:
        feed = await feed_registry.pause_feed(
            session, context.args.id, now=utcnow(), reason=context.args.reason
        )
    print(f"paused feed #{feed.id}: {feed.url}")
    return 0


async def _resume(context: _Context) -> int:
    async with context.db.transaction() as session:
        feed = await feed_registry.resume_feed(session, context.args.id, now=utcnow())
    print(f"resumed feed #{feed.id}: {feed.url} (polled at the bot's next round)")
    return 0


async def _import_opml(context: _Context) -> int:
    if context.opml is None:
        raise AssertionError("import-opml runs with the file read in _run")
    async with context.db.transaction() as session:
        outcome = await feed_registry.import_opml(
            session, context.opml, now=utcnow(), defaults=_spec(context.args)
        )
    print(f"imported {len(outcome.added)} feeds, skipped {len(outcome.skipped)}")
    for feed in outcome.added:
        print(f"  added #{feed.id}: {feed.url}")
    for url, why in outcome.skipped:
        print(f"  skipped {url}: {why}")
    return 0


async def _export_opml(context: _Context) -> int:
    async with context.db.transaction() as session:
        document = await feed_registry.export_opml(session)
    path: Path | None = context.args.file
    if path is None:
        sys.stdout.write(document.decode("utf-8"))
        return 0
    try:
        path.write_bytes(document)
    except OSError as error:
        reason = error.strerror or error
        raise FeedError(
            _("cannot write {path}: {reason}").format(path=path, reason=reason)
        ) from None
    print(f"wrote {path}")
    return 0


async def _poll(context: _Context) -> int:
    poller = FeedPoller(context.db)
    feed_id = context.args.id
    if feed_id is None:
        async with context.db.transaction() as session:
            report = await poller.poll_feeds(await active_feed_ids(session))
    else:
        result = await poller.poll_feed(feed_id)
        if result is None:
            raise FeedError(_("there is no active feed #{id}").format(id=feed_id))
        report = PollReport([result])
    for result in report.results:
        print(describe_poll(result))
    count = len(report.notification_ids)
    print(f"{count} new notifications in the outbox (the running bot sends them)")
    return 0


_ACTIONS: dict[str, Callable[[_Context], Awaitable[int]]] = {
    "add": _add,
    "list": _list,
    "remove": _remove,
    "pause": _pause,
    "resume": _resume,
    "import-opml": _import_opml,
    "export-opml": _export_opml,
    "poll": _poll,
}


# ------------------------------------------------------------------------ output


def describe(feed: Feed, tz: ZoneInfo) -> str:
    state = "paused" if feed.paused else "active"
    language = f" ({feed.language})" if feed.language else ""
    lines = [
        f"#{feed.id} [{state}] {feed.title or '(untitled)'}{language}",
        f"    {feed.url}",
        f"    every {feed.interval_s} s · strategies: {_ids(feed.default_strategies)}"
        f" · zones: {_ids(feed.default_zones)}",
        f"    last poll: {_when(feed.last_polled_at, tz)} {feed.last_status or ''}".rstrip()
        + f" · next: {_when(feed.next_poll_at, tz)} · failures: {feed.consecutive_failures}",
    ]
    if feed.last_error:
        lines.append(f"    last error: {feed.last_error}")
    if feed.paused:
        lines.append(f"    paused: {feed.pause_reason}")
    return "\n".join(lines)


def describe_poll(result: FeedPollResult) -> str:
    line = f"#{result.feed_id} {result.status.value}"
    if result.notification_ids:
        line += f": {len(result.notification_ids)} new"
    if result.recorded_silently:
        line += f", {result.recorded_silently} already there recorded as seen"
    if result.moved_to:
        line += f", moved to {result.moved_to}"
    if result.error:
        line += f": {result.error}"
    if result.paused:
        line += " (now paused)"
    return f"{line} — {result.url}"


def _ids(values: list[str] | None) -> str:
    return ", ".join(values) if values else "-"


def _when(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if moment else "never"
