"""`python -m bot monitoring …`: the plan's monitoring data for the staff, as plain text.

    monitoring import FILE [FILE …] [--dry-run] [--no-notify] [--threshold N]
    monitoring poll [--url URL] [--sql]
    monitoring list [--strategy S1]

An import checks every row first: any problem is listed with its line or row and nothing is
imported (exit code 2). Notifications go out with the running bot, or `python -m bot deliver`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.cli.feature import EXIT_BAD_INPUT, Commands, with_database
from bot.config import MonitoringSettings, Settings
from bot.db.engine import Database
from bot.services import monitoring
from bot.services.monitoring import ImportReport
from bot.services.monitoring_remote import (
    PollOutcome,
    PollStatus,
    poll_sql,
    poll_url,
    today_in_rome,
)
from bot.services.monitoring_sources import RawRecord, SourceError, read_files
from bot.services.monitoring_validate import InvalidDataset


def add_parser(commands: Commands) -> None:
    """Add `monitoring` and its actions to the subcommands of `python -m bot`."""
    parser = commands.add_parser("monitoring", help="the plan's actions, indicators, reviews")
    actions = parser.add_subparsers(dest="subcommand", metavar="ACTION", required=True)
    load = actions.add_parser("import", help="import CSV, XLSX, JSON or YAML files (all or none)")
    load.add_argument("files", type=Path, nargs="+", metavar="FILE")
    load.add_argument("--dry-run", action="store_true", help="check and report, change nothing")
    load.add_argument(
        "--no-notify", action="store_true", help="store without notifying (a first load)"
    )
    load.add_argument("--threshold", type=int, metavar="N", help="progress points to notify")
    poll = actions.add_parser("poll", help="poll the remote dataset (or the SQL source) now")
    poll.add_argument("--url", help="dataset URL (default: MONITORING_URL)")
    poll.add_argument("--sql", action="store_true", help="read MONITORING_SQL_URL instead")
    listing = actions.add_parser("list", help="the stored actions with status and progress")
    listing.add_argument("--strategy", metavar="ID")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `monitoring` action; 0 when done, 2 for bad input (explained on stderr)."""
    async with with_database(settings) as db:
        return await _ACTIONS[args.subcommand](args, db, settings.monitoring)


async def _import(args: argparse.Namespace, db: Database, config: MonitoringSettings) -> int:
    try:
        records: list[RawRecord] = await asyncio.to_thread(read_files, args.files)
    except SourceError as error:
        print(f"psm-bot: monitoring import: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    threshold = args.threshold or config.progress_threshold
    try:
        report = await _imported(db, records, threshold, args)
    except InvalidDataset as invalid:
        _print_problems(invalid)
        return EXIT_BAD_INPUT
    except _DryRun as dry_run:
        report = dry_run.report
    prefix = "dry run, nothing saved: " if args.dry_run else "imported: "
    print(prefix + report.summary())
    _print_changes(report)
    return 0


class _DryRun(Exception):
    """Leaves the transaction with a rollback, carrying what would have been imported."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__("dry run")
        self.report = report


async def _imported(
    db: Database, records: list[RawRecord], threshold: int, args: argparse.Namespace
) -> ImportReport:
    async with db.transaction() as session:
        report = await monitoring.import_records(
            session,
            records,
            today=today_in_rome(),
            threshold=threshold,
            notify=not args.no_notify,
        )
        if args.dry_run:
            raise _DryRun(report)
    return report


def _print_problems(invalid: InvalidDataset) -> None:
    print(
        f"psm-bot: monitoring import: {len(invalid.errors)} problem(s), nothing imported:",
        file=sys.stderr,
    )
    for error in invalid.errors:
        print(f"  {error}", file=sys.stderr)


def _print_changes(report: ImportReport) -> None:
    for change in report.changes:
        print(f"  {change.kind.value}: {change.source_key}")


async def _poll(args: argparse.Namespace, db: Database, config: MonitoringSettings) -> int:
    if args.sql:
        sql_url, query = config.require_sql()
        outcome = await poll_sql(db, sql_url, query, threshold=config.progress_threshold)
    else:
        url = args.url or config.require_url()
        outcome = await poll_url(db, url, threshold=config.progress_threshold)
    return _print_outcome(outcome)


def _print_outcome(outcome: PollOutcome) -> int:
    if outcome.status is PollStatus.FAILED:
        print(
            f"psm-bot: monitoring poll failed, nothing imported: {outcome.error}", file=sys.stderr
        )
        return 1
    if outcome.status is PollStatus.NOT_MODIFIED:
        print("monitoring poll: not modified since the last poll")
        return 0
    if outcome.report is None:
        raise AssertionError(f"a {outcome.status} poll without its import report")
    print("monitoring poll: " + outcome.report.summary())
    _print_changes(outcome.report)
    return 0


async def _list(args: argparse.Namespace, db: Database, config: MonitoringSettings) -> int:
    strategy_id: str | None = args.strategy
    async with db.transaction() as session:
        counts = await monitoring.action_counts(session)
        strategies = [strategy_id.upper()] if strategy_id else sorted(counts)
        rows = []
        for strategy in strategies:
            rows += await monitoring.actions_of_strategy(session, strategy)
    if not rows:
        print("no actions stored: import them with `python -m bot monitoring import FILE`")
        return 0
    for action in rows:
        sample = "  [sample]" if action.sample else ""
        print(
            f"{action.code:<10} {action.status:<12} {action.progress_pct:>3}%  "
            f"{action.title_it}{sample}"
        )
    return 0


_ACTIONS: dict[
    str, Callable[[argparse.Namespace, Database, MonitoringSettings], Awaitable[int]]
] = {
    "import": _import,
    "poll": _poll,
    "list": _list,
}
