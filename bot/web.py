"""The HTTP side of a deployment: Telegram's webhook, /healthz, /metrics and the public
pages "Il Piano in cifre" (aiohttp)."""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from telegram import Bot, Update

from bot.db.engine import Database
from bot.handlers.context import BotApplication
from bot.metrics import Metrics
from bot.services import outbox
from bot.site.server import SiteServer

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The database figures of /healthz and /metrics are this many seconds old at most: a flood of
# unauthenticated requests makes one query per interval, never one each (it slowed delivery).
HEALTH_CACHE_S = 2.0


@dataclass
class HealthReport:
    ok: bool
    checks: dict[str, object]


class HealthCheck:
    """Database reachable, scheduler running, sender alive, delivery backlog.

    The database figures are cached for `cache_seconds` (one query however many ask at once);
    the in-process probes are read on every call.
    """

    def __init__(
        self,
        db: Database,
        *,
        scheduler_running: Callable[[], bool] | None = None,
        sender_alive: Callable[[], bool] | None = None,
        metrics: Metrics | None = None,
        cache_seconds: float = HEALTH_CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.scheduler_running = scheduler_running
        self.sender_alive = sender_alive
        self.metrics = metrics
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._database_checks: dict[str, object] | None = None
        self._checked_at = 0.0
        self._checking = asyncio.Lock()

    async def run(self) -> HealthReport:
        checks = dict(await self._cached_database_checks())
        ok = checks["database"] == "ok"
        for name, probe in (("scheduler", self.scheduler_running), ("sender", self.sender_alive)):
            if probe is not None:
                running = probe()
                checks[name] = "running" if running else "stopped"
                ok = ok and running
        return HealthReport(ok, checks)

    async def _cached_database_checks(self) -> dict[str, object]:
        async with self._checking:  # whoever waits here gets the figures the first one fetched
            stale = self.clock() - self._checked_at >= self.cache_seconds
            if self._database_checks is None or stale:
                self._database_checks = await self._database_now()
                self._checked_at = self.clock()
            return self._database_checks

    async def _database_now(self) -> dict[str, object]:
        try:
            async with asyncio.timeout(5):
                async with self.db.transaction() as session:
                    backlog = await outbox.backlog_size(session)
        except Exception as error:  # any failure means "not healthy"; the reason is reported
            return {"database": f"unreachable: {type(error).__name__}"}
        if self.metrics is not None:
            self.metrics.backlog.set(backlog)
        return {"database": "ok", "backlog": backlog}


class WebServer:
    def __init__(
        self,
        *,
        health: HealthCheck,
        metrics: Metrics,
        application: BotApplication | None = None,
        secret_token: str | None = None,
        site: SiteServer | None = None,
    ) -> None:
        self.health = health
        self.metrics = metrics
        self.application = application
        self.secret_token = secret_token
        self.site = site
        self.recent_updates = RecentUpdates()
        self._rendered: tuple[float, bytes] = (-math.inf, b"")  # when, what
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def build(self) -> web.Application:
        app = web.Application(client_max_size=2**20)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        if self.application is not None:
            if not self.secret_token:
                raise ValueError("a webhook needs a secret token")
            app.router.add_post(
                WEBHOOK_PATH, functools.partial(self._webhook, self.application, self.secret_token)
            )
        if self.site is not None:  # last: it answers every address the others do not
            self.site.add_routes(app.router)
        return app

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.build(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        report = await self.health.run()
        return web.json_response(
            {"status": "ok" if report.ok else "failing", **report.checks},
            status=200 if report.ok else 503,
        )

    async def _metrics(self, _request: web.Request) -> web.Response:
        """The figures as of the health check's interval: rendering them costs milliseconds,
        so a flood gets the same text again rather than a render each."""
        asked_at = self.health.clock()
        if self._metrics_stale(asked_at):
            await self.health.run()  # refreshes the backlog gauge (itself cached)
            if self._metrics_stale(asked_at):  # nobody else rendered them meanwhile
                self._rendered = (self.health.clock(), self.metrics.render())
        _, body = self._rendered
        return web.Response(body=body, content_type="text/plain")

    def _metrics_stale(self, now: float) -> bool:
        return now - self._rendered[0] >= self.health.cache_seconds

    async def _webhook(
        self, application: BotApplication, secret_token: str, request: web.Request
    ) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret_token.encode()):
            log.warning("webhook call without the right secret token from %s", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            update = parse_update(await request.read(), application.bot)
        except NotAnUpdate as error:
            log.warning("webhook body that is not a Telegram update: %s", error)
            return web.Response(status=400, text="not a Telegram update")
        if not self.recent_updates.first_time(update.update_id):
            log.info("update %s delivered again: acknowledged, not handled twice", update.update_id)
            return web.Response(text="ok")
        await application.update_queue.put(update)
        return web.Response(text="ok")


class NotAnUpdate(ValueError):
    """A webhook body that is not a Telegram update (not JSON, not an object, no update_id)."""


LARGEST_UPDATE_ID = 2**63 - 1


def parse_update(body: bytes, bot: Bot) -> Update:
    """The update in a webhook body; raises NotAnUpdate for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
        raise NotAnUpdate(f"not JSON ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise NotAnUpdate(f"a JSON {type(data).__name__}, not an object")
    update_id = data.get("update_id")
    if type(update_id) is not int or not 0 <= update_id <= LARGEST_UPDATE_ID:
        raise NotAnUpdate(f"update_id {update_id!r}")
    try:
        return Update.de_json(data, bot)
    except Exception as error:  # whatever the library cannot read is not an update
        raise NotAnUpdate(f"unreadable update {update_id} ({type(error).__name__})") from None


class RecentUpdates:
    """The update_ids this process took lately, so an update Telegram delivers again (it does
    when the webhook is slow to answer) is acknowledged and not handled twice.

    Bounded: the latest `capacity` ids (Telegram's ids increase, and it redelivers within
    minutes). In memory only: a restarted process does not know what it took before.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._seen: set[int] = set()
        self._order: deque[int] = deque()

    def first_time(self, update_id: int) -> bool:
        """True once per update_id (and records it); False for a replay."""
        if update_id in self._seen:
            return False
        self._seen.add(update_id)
        self._order.append(update_id)
        if len(self._order) > self.capacity:
            self._seen.discard(self._order.popleft())
        return True


def count_updates(metrics: Metrics) -> Callable[[Update, object], Coroutine[Any, Any, None]]:
    """A handler for group -1: counts every update by kind, then lets the others run."""

    async def count(update: Update, _context: object) -> None:
        kind = next(
            (
                name
                for name in ("message", "callback_query", "my_chat_member", "edited_message")
                if getattr(update, name, None) is not None
            ),
            "other",
        )
        metrics.updates.labels(kind).inc()

    return count
