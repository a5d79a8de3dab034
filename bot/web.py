"""The HTTP side of a deployment: Telegram's webhook, /healthz and /metrics (aiohttp)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from telegram import Update

from bot.db.engine import Database
from bot.handlers.context import BotApplication
from bot.metrics import Metrics
from bot.services import outbox

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class HealthReport:
    ok: bool
    checks: dict[str, object]


class HealthCheck:
    """Database reachable, scheduler running, sender alive, delivery backlog."""

    def __init__(
        self,
        db: Database,
        *,
        scheduler_running: Callable[[], bool] | None = None,
        sender_alive: Callable[[], bool] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.scheduler_running = scheduler_running
        self.sender_alive = sender_alive
        self.metrics = metrics

    async def run(self) -> HealthReport:
        checks: dict[str, object] = {}
        ok = True
        try:
            async with asyncio.timeout(5):
                async with self.db.transaction() as session:
                    backlog = await outbox.backlog_size(session)
            checks["database"] = "ok"
            checks["backlog"] = backlog
            if self.metrics is not None:
                self.metrics.backlog.set(backlog)
        except Exception as error:  # any failure means "not healthy"; the reason is reported
            ok = False
            checks["database"] = f"unreachable: {type(error).__name__}"
        for name, probe in (("scheduler", self.scheduler_running), ("sender", self.sender_alive)):
            if probe is not None:
                running = probe()
                checks[name] = "running" if running else "stopped"
                ok = ok and running
        return HealthReport(ok, checks)


class WebServer:
    def __init__(
        self,
        *,
        health: HealthCheck,
        metrics: Metrics,
        application: BotApplication | None = None,
        secret_token: str | None = None,
    ) -> None:
        self.health = health
        self.metrics = metrics
        self.application = application
        self.secret_token = secret_token
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def build(self) -> web.Application:
        app = web.Application(client_max_size=2**20)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        if self.application is not None:
            if not self.secret_token:
                raise ValueError("a webhook needs a secret token")
            app.router.add_post(WEBHOOK_PATH, self._webhook)
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
        await self.health.run()  # refreshes the backlog gauge
        return web.Response(body=self.metrics.render(), content_type="text/plain")

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret_token.encode()):
            log.warning("webhook call without the right secret token from %s", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json(loads=json.loads)
            update = Update.de_json(data, self.application.bot)
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="not a Telegram update")
        await self.application.update_queue.put(update)
        return web.Response(text="ok")


def count_updates(metrics: Metrics) -> Callable[[Update, object], Awaitable[None]]:
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
