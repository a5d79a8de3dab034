"""Small asyncio helpers to wait for sandbox state changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

_POLL_CAP_SECONDS = 0.1


class Notifier:
    """Wakes every waiter whenever something changed (futures, same event loop)."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, timeout: float) -> None:
        """Return after the next notification or after ``timeout`` seconds."""
        if timeout <= 0:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait({waiter}, timeout=timeout)
        finally:
            self._waiters.discard(waiter)
            if not waiter.done():
                waiter.cancel()


async def wait_until(condition: Callable[[], bool], notifier: Notifier, deadline: float) -> bool:
    """Wait until ``condition()`` holds or the monotonic ``deadline`` passes."""
    while True:
        if condition():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await notifier.wait(min(remaining, _POLL_CAP_SECONDS))


async def wait_quiet(last_activity: Callable[[], float], settle: float, deadline: float) -> None:
    """Wait until nothing happened for ``settle`` seconds (or the deadline passes)."""
    while True:
        now = time.monotonic()
        remaining = settle - (now - last_activity())
        if remaining <= 0 or now >= deadline:
            return
        await asyncio.sleep(min(remaining, max(deadline - now, 0.001)))
