"""Figures for the staff: subscribers over time and by zone, strategy and language; deliveries;
feedback by subject. Plain data, drawn by `bot.screens.charts` and exported as CSV here.

Subscribers over time come from `audience_changes`, the anonymous history of people becoming
reachable (+1: joined, returned) or not (-1: blocked, forgotten), so those who left still
count in the past, /forget included.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from sqlalchemy import and_, case, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AudienceChange,
    RecordEntry,
    Strategy,
    Subscriber,
    Subscription,
    TargetKind,
    UTCDateTime,
    Zone,
    utcnow,
)
from bot.i18n import TIMEZONE
from bot.services import outbox

TOP_SUBJECTS = 10
DAILY_UP_TO_DAYS = 92  # a history covering more calendar days than this is shown by month
RECENT_DAYS = 30


@dataclass(frozen=True)
class AudiencePoint:
    """One period of "subscribers over time" (Europe/Rome calendar)."""

    period: str  # "YYYY-MM-DD" by day, "YYYY-MM" by month
    total: int  # reachable subscribers at the end of the period
    joined: int  # became reachable during the period: joined or returned
    left: int  # stopped being reachable: blocked or forgotten (a positive count)


@dataclass
class Statistics:
    audience: list[AudiencePoint] = field(default_factory=list)
    joined_recently: int = 0  # in the last RECENT_DAYS days
    left_recently: int = 0
    by_zone: list[tuple[str, int]] = field(default_factory=list)
    by_strategy: list[tuple[str, int]] = field(default_factory=list)
    by_language: list[tuple[str, int]] = field(default_factory=list)
    deliveries: dict[str, int] = field(default_factory=dict)
    feedback_by_subject: list[tuple[str, int]] = field(default_factory=list)

    @property
    def active_subscribers(self) -> int:
        return sum(count for _language, count in self.by_language)


async def compute(session: AsyncSession, now: datetime | None = None) -> Statistics:
    now = now or utcnow()
    joined_recently, left_recently = await _recent_changes(session, now)
    return Statistics(
        audience=await _audience(session, now),
        joined_recently=joined_recently,
        left_recently=left_recently,
        by_zone=await _followers(session, TargetKind.ZONE, Zone.id, Zone.name, Zone.position),
        by_strategy=await _followers(
            session, TargetKind.STRATEGY, Strategy.id, Strategy.id, Strategy.position
        ),
        by_language=await _by_language(session),
        deliveries=await outbox.stats(session),
        feedback_by_subject=await _feedback_by_subject(session),
    )


async def _audience(session: AsyncSession, now: datetime) -> list[AudiencePoint]:
    """audience_series of the whole history, summed in SQL period by period: the periods'
    bounds (midnights in Rome, in UTC) come from Python, each sum is one range of the index
    on (occurred_at, delta). Nothing grows with the audience but the ranges read."""
    moment, delta = AudienceChange.occurred_at, AudienceChange.delta
    oldest = await session.scalar(select(func.min(moment)))
    newest = await session.scalar(select(func.max(moment)))
    if oldest is None or newest is None:  # no history
        return []
    first, last = _rome_day(oldest), max(_rome_day(newest), _rome_day(now))
    by_day = (last - first).days < DAILY_UP_TO_DAYS
    starts = [_rome_midnight(day) for day in _period_starts(first, last, by_day)]
    label = date.isoformat if by_day else _month
    total, series = 0, []
    for chunk in range(0, len(starts) - 1, _PERIODS_PER_QUERY):
        bounds = starts[chunk : chunk + _PERIODS_PER_QUERY + 1]
        periods = union_all(
            *(
                select(
                    literal(start, UTCDateTime()).label("start"),
                    literal(stop, UTCDateTime()).label("stop"),
                )
                for start, stop in pairwise(bounds)
            )
        ).subquery()
        within = and_(moment >= periods.c.start, moment < periods.c.stop)
        joined = select(func.coalesce(func.sum(delta), 0)).where(within, delta > 0)
        left = select(func.coalesce(func.sum(-delta), 0)).where(within, delta < 0)
        query = select(periods.c.start, joined.scalar_subquery(), left.scalar_subquery())
        for start, joined_, left_ in await session.execute(query.order_by(periods.c.start)):
            total += joined_ - left_
            period = label(start.astimezone(TIMEZONE).date())
            series.append(AudiencePoint(period, total, joined_, left_))
    return series


_PERIODS_PER_QUERY = 200  # SQLite allows 500 SELECTs in one UNION


async def _recent_changes(
    session: AsyncSession, now: datetime, days: int = RECENT_DAYS
) -> tuple[int, int]:
    """recent_changes, counted in SQL."""
    moment, delta = AudienceChange.occurred_at, AudienceChange.delta
    query = select(
        func.coalesce(func.sum(case((delta > 0, delta), else_=0)), 0),
        func.coalesce(func.sum(case((delta < 0, -delta), else_=0)), 0),
    ).where(moment > now - timedelta(days=days), moment <= now)
    joined, left = (await session.execute(query)).one()
    return int(joined), int(left)


def audience_series(changes: Iterable[tuple[datetime, int]], now: datetime) -> list[AudiencePoint]:
    """Reachable subscribers at the end of each period, from the first change's period to now's.

    By day when that covers at most DAILY_UP_TO_DAYS calendar days, else by month; periods
    without changes are there too, with the total carried over. No changes, no periods.
    """
    days = [(_rome_day(moment), delta) for moment, delta in changes]
    if not days:
        return []
    first = min(day for day, _delta in days)
    last = max(max(day for day, _delta in days), _rome_day(now))
    by_day = (last - first).days < DAILY_UP_TO_DAYS
    label = date.isoformat if by_day else _month
    joined: Counter[str] = Counter()
    left: Counter[str] = Counter()
    for day, delta in days:
        if delta > 0:
            joined[label(day)] += delta
        else:
            left[label(day)] -= delta
    total, series = 0, []
    for period in _periods(first, last, by_day):
        total += joined[period] - left[period]
        series.append(AudiencePoint(period, total, joined[period], left[period]))
    return series


def recent_changes(
    changes: Iterable[tuple[datetime, int]], now: datetime, days: int = RECENT_DAYS
) -> tuple[int, int]:
    """(joined or returned, left) in the `days` before `now`."""
    since = now - timedelta(days=days)
    recent = [delta for moment, delta in changes if since < moment <= now]
    return sum(d for d in recent if d > 0), -sum(d for d in recent if d < 0)


def _rome_day(moment: datetime) -> date:
    return moment.astimezone(TIMEZONE).date()


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _period_starts(first: date, last: date, by_day: bool) -> list[date]:
    """The first day of every period from `first`'s to `last`'s, and of the one after."""
    if by_day:
        return [first + timedelta(days=offset) for offset in range((last - first).days + 2)]
    starts: list[date] = []
    year, month = first.year, first.month
    while not starts or starts[-1] <= last:
        starts.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return starts


def _rome_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TIMEZONE).astimezone(UTC)


def _periods(first: date, last: date, by_day: bool) -> Iterator[str]:
    """Every period label from `first`'s to `last`'s, in order."""
    if by_day:
        for offset in range((last - first).days + 1):
            yield (first + timedelta(days=offset)).isoformat()
        return
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        yield _month(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


async def _followers(session: AsyncSession, kind: TargetKind, key, label, order):
    """Active followers of each zone or strategy, in the plan's order (zeros included)."""
    counted = (
        select(Subscription.target_id, func.count().label("followers"))
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscription.target_kind == kind.value, Subscriber.active.is_(True))
        .group_by(Subscription.target_id)
        .subquery()
    )
    query = (
        select(label, func.coalesce(counted.c.followers, 0))
        .outerjoin(counted, counted.c.target_id == key)
        .order_by(order)
    )
    return [(name, count) for name, count in (await session.execute(query)).all()]


async def _by_language(session: AsyncSession) -> list[tuple[str, int]]:
    query = (
        select(Subscriber.language, func.count())
        .where(Subscriber.active.is_(True))
        .group_by(Subscriber.language)
        .order_by(Subscriber.language)
    )
    return [(language, count) for language, count in (await session.execute(query)).all()]


async def _feedback_by_subject(session: AsyncSession) -> list[tuple[str, int]]:
    label = func.coalesce(RecordEntry.subject_label, "—")
    query = (
        select(label, func.count())
        .where(RecordEntry.hidden.is_(False))
        .group_by(label)
        .order_by(func.count().desc(), label)
        .limit(TOP_SUBJECTS)
    )
    return [(subject, count) for subject, count in (await session.execute(query)).all()]


def to_csv(stats: Statistics) -> bytes:
    """One table: section, key, value (UTF-8 with BOM, so spreadsheets read accents)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "key", "value"])
    sections = {
        "subscribers_over_time": [(p.period, p.total) for p in stats.audience],
        "subscribers_joined": [(p.period, p.joined) for p in stats.audience],
        "subscribers_left": [(p.period, p.left) for p in stats.audience],
        "subscribers_by_zone": stats.by_zone,
        "subscribers_by_strategy": stats.by_strategy,
        "subscribers_by_language": stats.by_language,
        "deliveries": sorted(stats.deliveries.items()),
        "feedback_by_subject": stats.feedback_by_subject,
    }
    for section, rows in sections.items():
        for key, value in rows:
            writer.writerow([section, _safe(key), value])
    return ("\ufeff" + out.getvalue()).encode()


def _safe(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: quote them."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value
