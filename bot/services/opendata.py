"""The plan's tables as plain rows for the open data files: nothing personal in them.

Each row is a dict in column order whose values are str, int, float, bool, None, date, an
aware datetime (UTC) or a list of str; `bot.site.opendata` writes them as CSV and JSON.
The participation record is published only as aggregates (`bot.services.site`), never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TypeAlias

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    AnnualReview,
    Comune,
    Event,
    Indicator,
    Measurement,
    Notification,
    NotificationKind,
    PlanAction,
    RecordEntry,
    Strategy,
    Zone,
)

Value: TypeAlias = str | int | float | bool | date | datetime | list[str] | None
Row: TypeAlias = dict[str, Value]


async def strategy_rows(session: AsyncSession) -> list[Row]:
    strategies = await session.scalars(select(Strategy).order_by(Strategy.position))
    return [
        {
            "id": strategy.id,
            "name_it": strategy.name_it,
            "name_en": strategy.name_en,
            "uncertain": strategy.uncertain,
        }
        for strategy in strategies
    ]


async def zone_rows(session: AsyncSession) -> list[Row]:
    zones = await session.scalars(select(Zone).order_by(Zone.position))
    return [
        {
            "id": zone.id,
            "name": zone.name,
            "detail": zone.label_detail,
            "uncertain": zone.uncertain,
        }
        for zone in zones
    ]


async def comune_rows(session: AsyncSession) -> list[Row]:
    comuni = await session.scalars(select(Comune).order_by(Comune.name))
    return [
        {
            "istat": comune.istat,
            "name": comune.name,
            "zone_id": comune.zone_id,
            "population": comune.population,
            "uncertain": comune.uncertain,
        }
        for comune in comuni
    ]


async def action_rows(session: AsyncSession) -> list[Row]:
    actions = await session.scalars(select(PlanAction).order_by(PlanAction.code))
    return [_action_row(action) for action in actions]


def _action_row(action: PlanAction) -> Row:
    return {
        "code": action.code,
        "strategy_id": action.strategy_id,
        "title_it": action.title_it,
        "title_en": action.title_en,
        "description_it": action.description_it,
        "description_en": action.description_en,
        "zone_ids": list(action.zone_ids),
        "comuni_istat": list(action.comuni_istat),
        "responsible": action.responsible,
        "status": action.status,
        "progress_pct": action.progress_pct,
        "start_date": action.start_date,
        "end_date": action.end_date,
        "funding_source": action.funding_source,
        "funding_amount_eur": action.funding_amount_eur,
        "links": list(action.links),
        "sample": action.sample,
        "updated_at": action.updated_at,
    }


async def indicator_rows(session: AsyncSession) -> list[Row]:
    found = await session.execute(
        select(Indicator, PlanAction.sample)
        .join(PlanAction, PlanAction.code == Indicator.action_code)
        .order_by(Indicator.action_code, Indicator.code)
    )
    return [
        {
            "action_code": indicator.action_code,
            "indicator_code": indicator.code,
            "name_it": indicator.name_it,
            "name_en": indicator.name_en,
            "unit": indicator.unit,
            "baseline": indicator.baseline,
            "baseline_year": indicator.baseline_year,
            "target": indicator.target,
            "target_year": indicator.target_year,
            "sample": sample,
        }
        for indicator, sample in found
    ]


async def measurement_rows(session: AsyncSession) -> list[Row]:
    found = await session.execute(
        select(
            Measurement, Indicator.action_code, Indicator.code, Indicator.unit, PlanAction.sample
        )
        .join(Indicator, Indicator.id == Measurement.indicator_id)
        .join(PlanAction, PlanAction.code == Indicator.action_code)
        .order_by(Indicator.action_code, Indicator.code, Measurement.period)
    )
    return [
        {
            "action_code": action_code,
            "indicator_code": indicator_code,
            "period": measurement.period,
            "value": measurement.value,
            "unit": unit,
            "source": measurement.source,
            "recorded_at": measurement.created_at,
            "sample": sample,
        }
        for measurement, action_code, indicator_code, unit, sample in found
    ]


async def review_rows(session: AsyncSession) -> list[Row]:
    reviews = await session.scalars(select(AnnualReview).order_by(AnnualReview.year))
    return [
        {
            "year": review.year,
            "published_on": review.published_on,
            "summary_it": review.summary_it,
            "summary_en": review.summary_en,
            "document_url": review.document_url,
            "sample": review.sample,
        }
        for review in reviews
    ]


async def all_events(session: AsyncSession) -> list[Event]:
    """Every event, past and cancelled ones included, in order of start."""
    return list(await session.scalars(select(Event).order_by(Event.starts_at, Event.id)))


def event_rows(events: Sequence[Event]) -> list[Row]:
    return [
        {
            "id": event.id,
            "uid": event.uid,
            "kind": event.kind,
            "status": event.status,
            "title_it": event.title_it,
            "title_en": event.title_en,
            "description_it": event.description_it,
            "description_en": event.description_en,
            "starts_at": event.starts_at,
            "ends_at": event.ends_at,
            "place": event.place,
            "comune_istat": event.comune_istat,
            "online_url": event.online_url,
            "zone_ids": list(event.zones),
            "strategy_ids": list(event.strategies),
            "revision": event.revision,
            "updated_at": event.updated_at,
        }
        for event in events
    ]


async def zone_of_comuni(session: AsyncSession) -> dict[str, str]:
    """The zone of each comune, by ISTAT code."""
    found = await session.execute(select(Comune.istat, Comune.zone_id))
    return {key: value for key, value in found}


def concerns_zone(event: Event, zone_id: str, zone_of: dict[str, str]) -> bool:
    """An event is of a zone when tagged with it or held in one of its comuni."""
    return zone_id in event.zones or (
        event.comune_istat is not None and zone_of.get(event.comune_istat) == zone_id
    )


async def last_change(session: AsyncSession) -> datetime | None:
    """The newest time anything published changed: the files' `generated_at`, so that the
    same data always gives the same bytes (and the same ETag)."""
    newest = [
        await session.scalar(select(func.max(column)))
        for column in (
            PlanAction.updated_at,
            Measurement.created_at,
            AnnualReview.created_at,
            Event.updated_at,
            RecordEntry.created_at,
            RecordEntry.hidden_at,  # a hidden contribution is no longer counted
        )
    ]
    newest.append(
        await session.scalar(
            select(func.max(Notification.created_at)).where(
                Notification.kind == NotificationKind.MONITORING.value
            )
        )
    )
    return max((moment for moment in newest if moment is not None), default=None)
