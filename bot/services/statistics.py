"""Figures for the staff: subscribers over time and by zone, strategy and language; deliveries;
feedback by subject. Plain data, drawn by `bot.stats_charts` and exported as CSV here.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import RecordEntry, Strategy, Subscriber, Subscription, TargetKind, Zone
from bot.i18n import TIMEZONE
from bot.services import outbox

TOP_SUBJECTS = 10


@dataclass
class Statistics:
    subscribers_by_month: list[tuple[str, int]] = field(default_factory=list)  # cumulative
    by_zone: list[tuple[str, int]] = field(default_factory=list)
    by_strategy: list[tuple[str, int]] = field(default_factory=list)
    by_language: list[tuple[str, int]] = field(default_factory=list)
    deliveries: dict[str, int] = field(default_factory=dict)
    feedback_by_subject: list[tuple[str, int]] = field(default_factory=list)

    @property
    def active_subscribers(self) -> int:
        return sum(count for _language, count in self.by_language)


async def compute(session: AsyncSession) -> Statistics:
    return Statistics(
        subscribers_by_month=await _subscribers_by_month(session),
        by_zone=await _followers(session, TargetKind.ZONE, Zone.id, Zone.name, Zone.position),
        by_strategy=await _followers(
            session, TargetKind.STRATEGY, Strategy.id, Strategy.id, Strategy.position
        ),
        by_language=await _by_language(session),
        deliveries=await outbox.stats(session),
        feedback_by_subject=await _feedback_by_subject(session),
    )


async def _subscribers_by_month(session: AsyncSession) -> list[tuple[str, int]]:
    """Active subscribers by the month they joined (Rome time), as a running total."""
    joined = await session.scalars(select(Subscriber.created_at).where(Subscriber.active.is_(True)))
    per_month: dict[str, int] = {}
    for moment in joined:
        month = moment.astimezone(TIMEZONE).strftime("%Y-%m")
        per_month[month] = per_month.get(month, 0) + 1
    total, series = 0, []
    for month in sorted(per_month):
        total += per_month[month]
        series.append((month, total))
    return series


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
        "subscribers_by_month": stats.subscribers_by_month,
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
