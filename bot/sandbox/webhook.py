"""Push delivery of updates to a webhook URL, like Telegram does after setWebhook."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .sync import Notifier
from .updates import QueuedUpdate, UpdateQueue

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_IDLE_WAIT_SECONDS = 1.0


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    has_custom_certificate: bool = False
    last_error_date: int | None = None
    last_error_message: str | None = None
    delivered_count: int = 0
    failed_attempts: list[str] = field(default_factory=list)


class WebhookDelivery:
    """Posts queued updates one at a time (keeping their order), retrying failures."""

    def __init__(
        self,
        queue: UpdateQueue,
        notifier: Notifier,
        clock: Callable[[], float],
        *,
        attempts: int = 3,
        retry_delay: float = 0.2,
        request_timeout: float = 5.0,
    ) -> None:
        self._queue = queue
        self._notifier = notifier
        self._clock = clock
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.request_timeout = request_timeout
        self.config: WebhookConfig | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self.config is not None

    def info_json(self) -> dict[str, Any]:
        config = self.config
        info: dict[str, Any] = {
            "url": config.url if config else "",
            "has_custom_certificate": bool(config and config.has_custom_certificate),
            "pending_update_count": self._queue.pending_count,
        }
        if config:
            info["max_connections"] = config.max_connections
            optional = {
                "ip_address": config.ip_address,
                "last_error_date": config.last_error_date,
                "last_error_message": config.last_error_message,
                "allowed_updates": self._queue.allowed_updates or None,
            }
            info.update({key: value for key, value in optional.items() if value})
        return info

    async def configure(self, config: WebhookConfig) -> None:
        await self.stop()
        self.config = config
        self._task = asyncio.create_task(self._deliver_forever(), name="sandbox-webhook")

    async def stop(self) -> None:
        self.config = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver_forever(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                update = self._queue.first()
                if update is None:
                    await self._notifier.wait(_IDLE_WAIT_SECONDS)
                    continue
                await self._deliver_with_retries(session, update)
                self._queue.remove(update)

    async def _deliver_with_retries(
        self, session: aiohttp.ClientSession, update: QueuedUpdate
    ) -> bool:
        for attempt in range(self.attempts):
            error = await self._post(session, update)
            if error is None:
                return True
            self._note_error(error)
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.retry_delay * (attempt + 1))
        return False

    async def _post(self, session: aiohttp.ClientSession, update: QueuedUpdate) -> str | None:
        config = self.config
        if config is None:
            return "webhook removed"
        headers = {SECRET_HEADER: config.secret_token} if config.secret_token else {}
        try:
            async with session.post(config.url, json=update.to_json(), headers=headers) as response:
                await response.read()
                if 200 <= response.status < 300:
                    config.delivered_count += 1
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return f"Connection failed: {exc.__class__.__name__}: {exc}"

    def _note_error(self, message: str) -> None:
        if self.config is not None:
            self.config.last_error_date = int(self._clock())
            self.config.last_error_message = message
            self.config.failed_attempts.append(message)
