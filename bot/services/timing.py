"""When a delivery may go out: quiet hours and digests, in Europe/Rome local time. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import TIMEZONE
from bot.db.models import DeliveryMode


def in_quiet_hours(moment: datetime, start: int | None, end: int | None, tz=TIMEZONE) -> bool:
    if start is None or end is None or start == end:
        return False
    hour = moment.astimezone(tz).hour
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end  # the window crosses midnight


def end_of_quiet_hours(moment: datetime, start: int, end: int, tz=TIMEZONE) -> datetime:
    """The first instant at or after `moment` outside the quiet window [start, end)."""
    local = moment.astimezone(tz)
    candidate = _at_local_hour(local, end, tz)
    if candidate <= local:
        candidate = _at_local_hour(local + timedelta(days=1), end, tz)
    return candidate


def _at_local_hour(local: datetime, hour: int, tz) -> datetime:
    # Built from the calendar date so that daylight-saving changes keep the wall-clock hour.
    naive = datetime(local.year, local.month, local.day, hour)
    return naive.replace(tzinfo=tz)


def next_digest_time(
    moment: datetime, mode: str, hour: int, weekday: int = 0, tz=TIMEZONE
) -> datetime | None:
    """When the next daily or weekly digest is due (None for instant delivery)."""
    if mode == DeliveryMode.INSTANT:
        return None
    local = moment.astimezone(tz)
    candidate = _at_local_hour(local, hour, tz)
    if mode == DeliveryMode.DAILY:
        return (
            candidate if candidate > local else _at_local_hour(local + timedelta(days=1), hour, tz)
        )
    days_ahead = (weekday - local.weekday()) % 7
    candidate = _at_local_hour(local + timedelta(days=days_ahead), hour, tz)
    if candidate <= local:
        candidate = _at_local_hour(local + timedelta(days=7), hour, tz)
    return candidate


def release_time(
    moment: datetime,
    *,
    quiet_start: int | None,
    quiet_end: int | None,
    tz=TIMEZONE,
) -> datetime | None:
    """None when a due delivery may go now, else the time to try again."""
    if quiet_start is None or quiet_end is None:
        return None  # no quiet hours set
    if in_quiet_hours(moment, quiet_start, quiet_end, tz):
        return end_of_quiet_hours(moment, quiet_start, quiet_end, tz)
    return None
