"""Scheduling and health rules."""

from __future__ import annotations

import math

import pytest

from feeds.policy import (
    DEFAULT_INTERVAL_S,
    MIN_INTERVAL_S,
    first_poll_selection,
    next_poll_delay,
    should_pause,
    spread_offset,
    validate_interval,
)


def test_constants():
    assert (MIN_INTERVAL_S, DEFAULT_INTERVAL_S) == (120, 600)


def test_healthy_feeds_poll_at_their_interval():
    assert next_poll_delay(600, 0) == 600


def test_failures_back_off_exponentially_up_to_the_cap():
    delays = [next_poll_delay(600, failures) for failures in range(8)]
    assert delays == [600, 1200, 2400, 4800, 9600, 19200, 21600, 21600]
    assert next_poll_delay(600, 10_000) == 6 * 3600
    assert next_poll_delay(600, 3, max_backoff_s=1000) == 1000


def test_the_cap_never_shortens_a_long_interval():
    assert next_poll_delay(8 * 3600, 2) == 8 * 3600


def test_pause_after_ten_failures_in_a_row():
    assert not should_pause(9)
    assert should_pause(10)
    assert should_pause(3, pause_after=3)


def test_spread_offset_is_deterministic_and_in_range():
    offsets = [spread_offset(f"https://feed{n}.example.org/rss", 600) for n in range(500)]
    assert all(0 <= offset < 600 for offset in offsets)
    assert spread_offset("https://feed1.example.org/rss", 600) == offsets[1]
    assert len({round(offset) for offset in offsets}) > 250  # spread over the interval
    assert spread_offset("x", 0) == 0.0
    assert spread_offset("x", 1e-300) < 1e-300


def test_first_poll_notifies_nothing_or_only_the_newest_backlog():
    entries = ["oldest", "older", "new", "newest"]
    assert first_poll_selection(entries) == []
    assert first_poll_selection(entries, backlog=2) == ["new", "newest"]
    assert first_poll_selection(entries, backlog=10) == entries
    with pytest.raises(ValueError):
        first_poll_selection(entries, backlog=-1)


def test_validate_interval():
    assert validate_interval(120) == 120
    assert validate_interval(600.5) == 600.5
    with pytest.raises(ValueError, match="at least 120 seconds, got 60"):
        validate_interval(60)
    for bad in (math.nan, math.inf, "600", None, True):
        with pytest.raises(ValueError):
            validate_interval(bad)
