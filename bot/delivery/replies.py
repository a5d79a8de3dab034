"""Replies to people: concurrent, in order per person, within the same budget as deliveries.

`ReplyRateLimiter` is PTB's rate limiter of the interactive bot. Messages (what Telegram
limits) wait for their turn in the sender's own `RateLimiter`, ahead of deliveries, so replies
and a broadcast together keep to the overall limit and new messages to the per-chat one (with
Telegram's short bursts); a screen edited in place follows its reader's presses, within the
overall limit. Other calls (answering a button press, setting the menu) go at once. A 429
pauses everyone for its retry_after, and the message is sent again once it has passed.

A reply counts from when its request is written (`interactive_request`), as a delivery does:
a loop busy between the reply's turn and its write does not bring the next messages sooner.

`PerUserUpdateProcessor` handles updates concurrently, one person's in the order they came.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

import httpx
from telegram import Update
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter, BaseUpdateProcessor
from telegram.request import HTTPXRequest

from bot.delivery.ratelimit import RateLimiter, Release, is_message_method

log = logging.getLogger(__name__)

DEFAULT_CONCURRENT_UPDATES = 256
CONNECTION_POOL_SIZE = 256  # an Application's bot has as many (ApplicationBuilder's default)
JSONResult = bool | dict[str, Any] | list[dict[str, Any]]
# The reply this task is sending: its request tells it when it is written.
_sending: ContextVar[Release | None] = ContextVar("reply_being_sent", default=None)


class ReplyRateLimiter(BaseRateLimiter[int]):
    def __init__(self, limiter: RateLimiter, *, max_retries: int = 2) -> None:
        self._limiter = limiter
        self._max_retries = max_retries

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSONResult:
        chat = _chat_key(data.get("chat_id"))
        if chat is None or not is_message_method(endpoint):
            return await callback(*args, **kwargs)
        retries = rate_limit_args if rate_limit_args is not None else self._max_retries
        in_place = endpoint.lower().startswith("edit")
        for attempt in range(retries + 1):
            release = await self._limiter.wait_turn(chat, urgent=True, in_chat_limit=not in_place)
            sending = _sending.set(release)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                self._limiter.pause(_seconds(error))
                if attempt == retries:
                    raise
                log.warning("Telegram asked to wait %.0f s before %s", _seconds(error), endpoint)
            finally:
                _sending.reset(sending)
        raise AssertionError("unreachable")


def interactive_request() -> HTTPXRequest:
    """The request of the interactive bot: PTB's, as an Application has it, which tells the
    reply being sent (if any) when its body has been written."""
    hooks = {"request": [_trace_writing]}
    return HTTPXRequest(
        connection_pool_size=CONNECTION_POOL_SIZE, httpx_kwargs={"event_hooks": hooks}
    )


async def _trace_writing(request: httpx.Request) -> None:
    release = _sending.get()
    if release is not None:
        request.extensions["trace"] = _written_trace(release)


def _written_trace(release: Release) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    async def trace(event: str, _info: dict[str, Any]) -> None:
        # httpcore's event once the request has gone to the connection (HTTP/1.1, as PTB's).
        if event == "http11.send_request_body.complete":
            release.written()

    return trace


def _seconds(error: RetryAfter) -> float:
    retry_after = error.retry_after  # a timedelta, or whole seconds in older PTB releases
    if isinstance(retry_after, timedelta):
        return retry_after.total_seconds()
    return float(retry_after)


def _chat_key(chat_id: object) -> int | None:
    """The limiter keys chats by number; a @channel name counts as a group (negative)."""
    if chat_id is None:
        return None
    if isinstance(chat_id, int):
        return chat_id
    text = str(chat_id)
    if text.removeprefix("-").isdigit():
        return int(text)
    return -1 - (hash(text) & 0x7FFFFFFF)


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Up to `max_concurrent_updates` at once; one person's (or chat's) updates one at a time,
    in the order they came (asyncio's locks are first come, first served)."""

    def __init__(self, max_concurrent_updates: int = DEFAULT_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}  # key → updates holding or waiting for its lock

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _update_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def _update_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id if update.effective_chat is not None else None
