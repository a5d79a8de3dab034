"""Command line: `python -m bot [run|demo|db upgrade|db seed|deliver|stats|feeds …|monitoring …|
events …|broadcast …|record …|site build DIR|i18n compile]`.

Without a subcommand: the real bot when TELEGRAM_BOT_TOKEN is set, else the offline demo.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from telegram.error import InvalidToken, NetworkError

from bot import logs
from bot.cli import broadcast, events, feeds, monitoring, record, site
from bot.cli.feature import Feature, with_database
from bot.config import ConfigError, Settings
from bot.runtime import prepare_database, reseed_database
from bot.services.plan import PlanDataError

log = logging.getLogger("bot")

# The commands of one feature module each: `add_parser(commands)` and `run(args, settings)`.
FEATURES: dict[str, Feature] = {
    "feeds": feeds,
    "monitoring": monitoring,
    "events": events,
    "broadcast": broadcast,
    "record": record,
    "site": site,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="psm-bot: Telegram bot of the Piano Strategico Metropolitano di Genova",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="run the bot (needs TELEGRAM_BOT_TOKEN)")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument(
        "--webhook",
        action="store_true",
        help="receive updates by webhook at WEBHOOK_URL (secret WEBHOOK_SECRET) on PORT",
    )
    mode.add_argument(
        "--worker",
        action="store_true",
        help="no updates: only send notifications and run scheduled jobs",
    )
    run.add_argument(
        "--web-only",
        action="store_true",
        help="with --webhook: handle updates only; a separate worker sends",
    )
    demo = commands.add_parser("demo", help="offline demo against the bundled Bot API stand-in")
    demo.add_argument("--keep-db", metavar="PATH", help="keep the demo database at PATH")
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="subcommand", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="apply migrations and seed the plan's reference data")
    db_commands.add_parser(
        "seed", help="reload the plan's reference data from the YAML file (no migration)"
    )
    deliver = commands.add_parser("deliver", help="send every due delivery now, then exit")
    deliver.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also wait for retries that fall due within SECONDS",
    )
    stats = commands.add_parser("stats", help="deliveries by state (all, or one notification)")
    stats.add_argument("--notification", type=int, metavar="ID")
    feeds.add_parser(commands)
    monitoring.add_parser(commands)
    events.add_parser(commands)
    broadcast.add_parser(commands)
    i18n = commands.add_parser("i18n", help="translations")
    i18n_commands = i18n.add_subparsers(dest="subcommand", metavar="ACTION", required=True)
    i18n_commands.add_parser("compile", help="write .mo files next to the .po catalogs")
    record.add_parser(commands)
    site.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # PTB 22 reports durations (RetryAfter.retry_after) as timedelta when opted in.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level, settings.log_format)
        return _dispatch(args, settings)
    except (ConfigError, PlanDataError) as error:
        print(f"psm-bot: configuration error: {error}", file=sys.stderr)
        return 2
    except InvalidToken as error:
        log.debug("token rejected", exc_info=error)
        print(
            "psm-bot: TELEGRAM_BOT_TOKEN was rejected by the Bot API at TELEGRAM_API_BASE_URL "
            f"({settings.telegram_api_base_url}): check it with @BotFather",
            file=sys.stderr,
        )
        return 2
    except NetworkError as error:
        log.debug("Bot API unreachable", exc_info=error)
        print(
            "psm-bot: cannot reach the Bot API at TELEGRAM_API_BASE_URL "
            f"({settings.telegram_api_base_url}): {_first_line(error)}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


def _first_line(error: BaseException, limit: int = 300) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:limit]


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command or ("run" if settings.telegram_bot_token else "demo")
    if command == "run":
        settings.require_token()
        run_args = (
            args
            if args.command
            else argparse.Namespace(webhook=False, worker=False, web_only=False)
        )
        return asyncio.run(_run(settings, run_args))
    if command == "demo":
        from bot.demo import run_demo

        if settings.log_level == "INFO":
            logging.getLogger().setLevel(logging.WARNING)  # keep the printed chat readable
        if args.command is None:
            print("TELEGRAM_BOT_TOKEN is not set: running the offline demo.\n")
        return asyncio.run(run_demo(keep_db=getattr(args, "keep_db", None)))
    if command == "db":
        return asyncio.run(_db(settings, args.subcommand))
    if command == "deliver":
        settings.require_token()
        return asyncio.run(_deliver(settings, args.wait))
    if command == "stats":
        return asyncio.run(_stats(settings, args.notification))
    if command in FEATURES:
        return asyncio.run(FEATURES[command].run(args, settings))
    if command == "i18n":
        from bot.i18n import compile_catalogs

        for path in compile_catalogs():
            print(f"compiled {path}")
        return 0
    raise AssertionError(command)


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.runtime import Deployment, compose, run_until_signalled

    receive = "webhook" if args.webhook else "none" if args.worker else "polling"
    deployment = Deployment(receive=receive, sends=not args.web_only)
    if receive == "webhook":
        settings.require_webhook()
    async with with_database(settings) as db:
        await run_until_signalled(compose(settings, db, deployment))
    return 0


async def _deliver(settings: Settings, wait_s: float) -> int:
    from bot.runtime import deliver_due

    async with with_database(settings) as db:
        await deliver_due(settings, db, wait_s=wait_s)
    return 0


async def _stats(settings: Settings, notification_id: int | None) -> int:
    from bot.services import outbox

    async with with_database(settings) as db, db.transaction() as session:
        counts = await outbox.stats(session, notification_id)
    scope = f"notification {notification_id}" if notification_id else "all notifications"
    print(f"deliveries ({scope}): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


async def _db(settings: Settings, action: str) -> int:
    db = await (reseed_database if action == "seed" else prepare_database)(settings)
    await db.dispose()
    print(f"database ready ({action}): {settings.database_url}")
    return 0
