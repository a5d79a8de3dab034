"""Pacing under Telegram's limits: messages per second overall, per chat, per group.

Each send reserves the earliest slot that respects every limit, then sleeps until it. Slots are
spaced evenly (no bursts). Telegram counts arrivals, and requests arrive with some jitter, so
slots are spaced 2% wider than the limits: the achieved rate is about 98% of the configured one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

SAFETY_MARGIN = 1.02


class RateLimiter:
    def __init__(
        self,
        per_second: float | None = 30.0,
        *,
        per_chat_interval_s: float | None = 1.0,
        group_interval_s: float | None = 3.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._global_interval = SAFETY_MARGIN / per_second if per_second else 0.0
        self._chat_interval = (per_chat_interval_s or 0.0) * SAFETY_MARGIN
        self._group_interval = (group_interval_s or 0.0) * SAFETY_MARGIN
        self._clock = clock
        self._sleep = sleep
        self._next_global = 0.0
        self._next_by_chat: dict[int, float] = {}
        self._reservations = 0

    def reserve(self, chat_id: int) -> float:
        """The monotonic time at which a message to this chat may go (bookkeeping included)."""
        now = self._clock()
        slot = max(now, self._next_global, self._next_by_chat.get(chat_id, 0.0))
        self._next_global = slot + self._global_interval
        interval = self._group_interval if chat_id < 0 else self._chat_interval
        if interval:
            self._next_by_chat[chat_id] = slot + interval
        self._reservations += 1
        if self._reservations % 1000 == 0:
            self._forget_idle_chats(now)
        return slot

    async def wait_turn(self, chat_id: int) -> None:
        delay = self.reserve(chat_id) - self._clock()
        if delay > 0:
            await self._sleep(delay)

    def pause(self, seconds: float) -> None:
        """Telegram said 429: nothing goes out for `seconds`."""
        self._next_global = max(self._next_global, self._clock() + seconds)

    def _forget_idle_chats(self, now: float) -> None:
        self._next_by_chat = {c: t for c, t in self._next_by_chat.items() if t > now}
