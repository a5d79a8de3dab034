"""A 429's pause seen by every sender: recorded in the database when Telegram asks for it, and
read before each release (a read is shared by the releases of the next FRESH_S seconds; for a
single sender, the next read starts FRESH_S after the last one ended)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime

from sqlalchemy.exc import InterfaceError, OperationalError

from bot.db.engine import Database
from bot.services import workers

log = logging.getLogger(__name__)

# What a database that went away (restart, network, terminated connections) raises.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, OSError, TimeoutError)
FRESH_S = 0.05


def describe(error: BaseException) -> str:
    """One line for the log: the driver's message, without SQLAlchemy's SQL and links."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}".strip()


class SharedPause:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._until = -math.inf  # wall time (time.time()) before which nobody sends
        self._read_at = -math.inf  # monotonic time the last read started
        self._rest_until = -math.inf  # no new read before (FRESH_S after the last one ended)
        self._reading: asyncio.Task | None = None
        self._writes: set[asyncio.Task] = set()
        self._unreachable = False

    def announce(self, seconds: float) -> None:
        """This sender got a 429: tell the others (in the background; it pauses itself)."""
        until = time.time() + seconds
        self._until = max(self._until, until)
        task = asyncio.get_running_loop().create_task(self._publish(until))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def remaining(self, *, fresh: bool = True) -> float:
        """Seconds left of a pause any sender recorded (0 when none). Not `fresh`: what is
        known now, without waiting for the database (a reading starts in the background)."""
        now = time.monotonic()
        # Several senders need the pause fresh (`fresh`); a single one lets the database rest.
        if now - self._read_at > FRESH_S and (fresh or now >= self._rest_until):
            if self._reading is None:
                self._reading = asyncio.get_running_loop().create_task(self._read())
            if fresh:
                await asyncio.shield(self._reading)
        return max(0.0, self._until - time.time())

    async def _publish(self, until: float) -> None:
        try:
            async with self.db.transaction() as session:
                await workers.pause_all(session, datetime.fromtimestamp(until, UTC))
        except DATABASE_UNAVAILABLE as error:
            log.error("the other senders were not told of a 429 pause: %s", describe(error))

    async def _read(self) -> None:
        started = time.monotonic()
        try:
            async with self.db.transaction() as session:
                until = await workers.paused_until(session)
        except DATABASE_UNAVAILABLE as error:
            if not self._unreachable:
                log.warning("shared pause not readable, local one applies: %s", describe(error))
            self._unreachable = True
        else:
            self._unreachable = False
            if until is not None:
                self._until = max(self._until, until.timestamp())
        finally:
            self._read_at = started
            # A busy database makes reads slow: the next waits, or they would follow each
            # other without a break and take the database from the sender's own writes.
            self._rest_until = time.monotonic() + FRESH_S
            self._reading = None
