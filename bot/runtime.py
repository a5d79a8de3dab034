"""Starting and stopping the bot: database preparation and long polling."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import DatabaseError, OperationalError
from telegram import Update

from bot.app import build_application, build_sender
from bot.config import ConfigError, Settings
from bot.db import migrate
from bot.db.engine import Database
from bot.delivery.sender import Sender
from bot.handlers.context import BotApplication
from bot.jobs import schedule_all
from bot.metrics import Metrics
from bot.services import plan
from bot.site.layout import SiteOptions
from bot.site.server import SiteServer
from bot.web import WEBHOOK_PATH, HealthCheck, WebServer

log = logging.getLogger(__name__)


async def prepare_database(
    settings: Settings, plan_file: Path = plan.DEFAULT_PLAN_FILE
) -> Database:
    """Migrate to the latest schema and seed the plan's reference data (idempotent).

    An unreachable database is a configuration problem: one line, no traceback.
    """
    with _as_configuration_errors():
        await asyncio.to_thread(migrate.upgrade, settings.database_url)
    return await _seeded(settings.database_url, plan_file)


async def reseed_database(settings: Settings, plan_file: Path = plan.DEFAULT_PLAN_FILE) -> Database:
    """Reload the plan's reference data from `plan_file`, without migrating: a database not at
    the latest schema is refused (one line, no traceback) and left as it is."""
    with _as_configuration_errors():
        behind = await asyncio.to_thread(migrate.pending_revisions, settings.database_url)
    if behind:
        raise ConfigError(
            "the database at DATABASE_URL is not at the latest schema: "
            "run `python -m bot db upgrade` first"
        )
    return await _seeded(settings.database_url, plan_file)


@contextmanager
def _as_configuration_errors() -> Iterator[None]:
    """Database errors an operator fixes in DATABASE_URL or the database: ConfigError."""
    try:
        yield
    except OperationalError as error:
        reason = str(error.orig or error).splitlines()[0]
        raise ConfigError(f"cannot reach the database at DATABASE_URL: {reason}") from error
    except DatabaseError as error:  # such as a SQLite file that is not a database
        reason = str(error.orig or error).splitlines()[0]
        raise ConfigError(f"cannot use the database at DATABASE_URL: {reason}") from error


async def _seeded(database_url: str, plan_file: Path) -> Database:
    db = Database(database_url)
    plan_data = plan.load_plan(plan_file)
    async with db.transaction() as session:
        await plan.seed_reference_data(session, plan_data)
    return db


@asynccontextmanager
async def polling(
    application: BotApplication, *, sender: Sender | None = None, poll_timeout: int = 30
) -> AsyncIterator[None]:
    """Run the application by long polling (and the sender, if given) for the block."""
    async with (
        _running(application, receive="polling", poll_timeout=poll_timeout),
        sending(sender),
    ):
        yield


@asynccontextmanager
async def _running(
    application: BotApplication,
    *,
    receive: str,
    poll_timeout: int = 30,
    webhook_url: str | None = None,
    secret: str | None = None,
) -> AsyncIterator[None]:
    """Start the application; updates come by polling, by webhook, or not at all (worker).

    PTB calls post_init only inside run_polling(); here the block owns the loop, so we do.
    """
    async with application:
        if application.post_init:
            await application.post_init(application)
        updater = application.updater  # built by default; None only if built without one
        if receive == "polling":
            if updater is None:
                raise ConfigError("long polling needs the application's updater")
            await updater.start_polling(
                poll_interval=0, timeout=poll_timeout, allowed_updates=Update.ALL_TYPES
            )
        elif receive == "webhook":
            if not webhook_url:
                raise ConfigError("webhook mode needs WEBHOOK_URL")
            await application.bot.set_webhook(
                url=webhook_url + WEBHOOK_PATH,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
            )
        await application.start()
        try:
            yield
        finally:
            if updater is not None and updater.running:
                await updater.stop()
            await application.stop()


@asynccontextmanager
async def sending(sender: Sender | None) -> AsyncIterator[asyncio.Task | None]:
    """Run the sender in the background for the block; on exit it finishes its window."""
    if sender is None:
        yield None
        return
    stop = asyncio.Event()
    async with sender.bot:
        task = asyncio.create_task(supervised(sender, stop), name="delivery-sender")
        try:
            yield task
        finally:
            stop.set()
            await task


RESTART_DELAY_CAP_S = 60.0


async def supervised(sender: Sender, stop: asyncio.Event) -> None:
    """The sender until `stop`. If it ends any other way (an error nobody foresaw), the error
    is logged and it starts again, waiting longer after each quick failure: a process that is
    up is a process that sends."""
    loop = asyncio.get_running_loop()
    delay = sender.config.restart_delay_s
    while True:
        started = loop.time()
        try:
            await sender.run_forever(stop)
        except Exception:
            if stop.is_set():
                log.exception("the sender failed while stopping")
                return
            log.exception("the sender stopped unexpectedly; started again in %.1f s", delay)
        else:
            if stop.is_set():
                return
            log.error("the sender ended without being stopped; started again in %.1f s", delay)
        if sender.metrics is not None:
            sender.metrics.sender_restarts.inc()
        if loop.time() - started > RESTART_DELAY_CAP_S:
            delay = sender.config.restart_delay_s  # it had been running: not a failure loop
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, RESTART_DELAY_CAP_S)


@dataclass
class Deployment:
    """What one process runs: how updates arrive, and whether it sends and schedules."""

    receive: str = "polling"  # "polling", "webhook" or "none" (a worker)
    sends: bool = True


@dataclass
class Composition:
    """Everything one process of `python -m bot run` is made of."""

    settings: Settings
    db: Database
    deployment: Deployment
    application: BotApplication
    sender: Sender
    metrics: Metrics


def compose(settings: Settings, db: Database, deployment: Deployment) -> Composition:
    """The bot as `python -m bot run` builds it; tests and the demo build it here too."""
    metrics = Metrics()
    sender = build_sender(settings, db, metrics=metrics)
    application = build_application(settings, db, metrics=metrics, limiter=sender.limiter)
    if deployment.sends:
        # Polling feeds from several workers is safe (one notification per item), but wasteful.
        schedule_all(application, settings, sender, metrics)
    return Composition(settings, db, deployment, application, sender, metrics)


async def _listen(server: WebServer, host: str, port: int) -> None:
    """Start the HTTP server; an address in use or a host that does not resolve is one line."""
    try:
        await server.start(host, port)
    except OSError as error:
        reason = error.strerror or str(error)
        if isinstance(error, socket.gaierror):
            reason = f"LISTEN {host!r} does not resolve ({reason})"
        elif error.errno == errno.EADDRINUSE:
            reason = f"PORT {port} is in use on {host} ({reason})"
        raise ConfigError(f"cannot listen on LISTEN:PORT {host}:{port}: {reason}") from error


def public_pages(settings: Settings, db: Database, application: BotApplication) -> SiteServer:
    """The public pages ("Il Piano in cifre") on the bot's HTTP server, their deep links to
    this very bot (known from getMe once the application is initialized, unless BOT_USERNAME
    says otherwise)."""
    username = settings.bot_username or application.bot.username
    return SiteServer(db, SiteOptions(bot_username=username, public_url=settings.public_url))


def settle_memory() -> None:
    """What start-up built (modules, catalogs, the plan, the application) lives as long as
    the process: out of the collector's way. Otherwise each full collection walks it all and
    stops the loop for a fifth of a second mid-broadcast; the requests held meanwhile then
    bunch up, and the rate limiter must leave room for the stall (at 1,000/s, 9% of it)."""
    gc.collect()
    gc.freeze()


async def deliver_due(settings: Settings, db: Database, *, wait_s: float = 0.0) -> None:
    """`python -m bot deliver`: what is due now (and what falls due within `wait_s`)."""
    sender = build_sender(settings, db)
    settle_memory()
    async with sender.bot:
        await sender.recover()
        try:
            await sender.run_until_idle(wait_s=wait_s)
        finally:
            await sender.close()


async def run_until_signalled(
    composition: Composition, *, stop: asyncio.Event | None = None
) -> None:
    """Run until SIGINT/SIGTERM (or until `stop` is set); in-flight work finishes first."""
    settings, db, deployment = composition.settings, composition.db, composition.deployment
    application, metrics = composition.application, composition.metrics
    sender = composition.sender
    job_queue = application.job_queue
    if job_queue is None:  # PTB builds one when APScheduler is installed, as it is here
        raise ConfigError("the bot needs PTB's job queue (python-telegram-bot[job-queue])")
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    webhook_url, secret = (
        settings.require_webhook() if deployment.receive == "webhook" else (None, None)
    )
    settle_memory()  # before anything runs: the collection it takes holds up nobody
    async with (
        _running(application, receive=deployment.receive, webhook_url=webhook_url, secret=secret),
        sending(sender if deployment.sends else None) as sender_task,
    ):
        health = HealthCheck(
            db,
            scheduler_running=lambda: job_queue.scheduler.running,
            # Sending, not merely alive: a refused token (401) fails the check until it works.
            sender_alive=(
                (lambda: not sender_task.done() and not sender.token_refused)
                if sender_task
                else None
            ),
            metrics=metrics,
        )
        server = WebServer(
            health=health,
            metrics=metrics,
            application=application if deployment.receive == "webhook" else None,
            secret_token=secret,
            site=public_pages(settings, db, application),
        )
        port = settings.port or (8080 if deployment.receive == "webhook" else None)
        if port:
            await _listen(server, settings.listen, port)
            log.info(
                "listening on %s:%s (/healthz, /metrics, the public pages at /)",
                settings.listen,
                server.port,
            )
        log.info("psm-bot is running (%s); Ctrl+C or SIGTERM stops it", deployment)
        try:
            await stop.wait()
        finally:
            await server.stop()
    log.info("psm-bot stopped")
