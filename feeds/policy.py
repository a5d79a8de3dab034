"""Scheduling and health rules for polling feeds: pure functions, no I/O, no clock."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import TypeVar

MIN_INTERVAL_S = 120
DEFAULT_INTERVAL_S = 600
DEFAULT_MAX_BACKOFF_S = 6 * 3600
DEFAULT_PAUSE_AFTER = 10

T = TypeVar("T")


def validate_interval(seconds: float) -> float:
    """The polling interval itself, or ValueError when it is too short or not a number."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
    ):
        raise ValueError(f"Polling interval must be a number of seconds, got {seconds!r}")
    if seconds < MIN_INTERVAL_S:
        raise ValueError(
            f"Polling interval must be at least {MIN_INTERVAL_S} seconds, got {seconds:g}"
        )
    return seconds


def next_poll_delay(
    interval_s: float, consecutive_failures: int, *, max_backoff_s: float = DEFAULT_MAX_BACKOFF_S
) -> float:
    """The interval when healthy; doubled per consecutive failure, capped at `max_backoff_s`.

    The cap never shortens the normal interval of a feed polled less often than the cap.
    """
    if consecutive_failures <= 0:
        return float(interval_s)
    exponent = min(consecutive_failures, 62)  # 2**62 already exceeds any sensible cap
    backed_off = min(interval_s * 2.0**exponent, max_backoff_s)
    return float(max(interval_s, backed_off))


def should_pause(consecutive_failures: int, *, pause_after: int = DEFAULT_PAUSE_AFTER) -> bool:
    """Whether a feed failed often enough in a row to stop polling it until someone looks."""
    return consecutive_failures >= pause_after


def spread_offset(feed_key: str, interval_s: float) -> float:
    """A deterministic offset in [0, interval_s) so feeds do not all poll in the same second."""
    if interval_s <= 0:
        return 0.0
    digest = hashlib.sha256(feed_key.encode("utf-8")).digest()
    fraction = (int.from_bytes(digest[:8], "big") >> 11) / 2.0**53  # in [0, 1)
    offset = fraction * interval_s
    return offset if offset < interval_s else math.nextafter(interval_s, 0.0)


def first_poll_selection(entries: Sequence[T], *, backlog: int = 0) -> list[T]:
    """On a newly added feed, the entries to notify: the newest `backlog` (default none).

    `entries` are ordered oldest first, as `parse_feed` returns them; so is the result.
    """
    if backlog < 0:
        raise ValueError(f"backlog must be zero or more, got {backlog}")
    if backlog == 0:
        return []
    return list(entries[-backlog:])
