"""The plan's monitoring database: importing data, notifying what changed, browsing it.

`import_records` validates everything first, then compares with the stored state, saves,
and enqueues one notification per change, all inside the caller's transaction: a bad row
leaves nothing behind, and importing the same data again changes and notifies nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.db.models import (
    ActionStatus,
    AnnualReview,
    Comune,
    Indicator,
    Measurement,
    PlanAction,
    Strategy,
    Zone,
)
from bot.services import outbox
from bot.services.monitoring_changes import (
    DEFAULT_PROGRESS_THRESHOLD,
    Change,
    StoredAction,
    StoredIndicator,
    StoredState,
    announced_progress,
    detect_changes,
    to_notification,
)
from bot.services.monitoring_sources import RawRecord
from bot.services.monitoring_validate import (
    ActionData,
    Dataset,
    IndicatorData,
    MeasurementData,
    Reference,
    ReviewData,
    validate,
)
from feeds.classify import fold


@dataclass
class ImportReport:
    actions: int = 0
    new_actions: int = 0
    indicators: int = 0
    measurements: int = 0
    reviews: int = 0
    changes: list[Change] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.actions} actions ({self.new_actions} new), {self.indicators} indicators, "
            f"{self.measurements} measurements, {self.reviews} reviews; "
            f"{len(self.changes)} changes, {len(self.notification_ids)} notifications queued"
        )


async def import_records(
    session: AsyncSession,
    records: Iterable[RawRecord],
    *,
    today: date,
    threshold: int = DEFAULT_PROGRESS_THRESHOLD,
    notify: bool = True,
) -> ImportReport:
    """Validate (raises InvalidDataset), save and notify; the caller owns the transaction.

    Checking runs off the event loop: the bot goes on answering meanwhile.
    """
    reference = await load_reference(session)
    dataset = await asyncio.to_thread(validate, list(records), reference)
    return await import_dataset(session, dataset, today=today, threshold=threshold, notify=notify)


async def import_dataset(
    session: AsyncSession,
    dataset: Dataset,
    *,
    today: date,
    threshold: int = DEFAULT_PROGRESS_THRESHOLD,
    notify: bool = True,
) -> ImportReport:
    """Save the data and enqueue its changes (or only save them: a first load)."""
    state = await load_state(session, dataset)
    changes = await asyncio.to_thread(
        detect_changes, dataset, state, today=today, threshold=threshold
    )
    report = ImportReport(
        actions=len(dataset.actions),
        new_actions=sum(1 for a in dataset.actions if a.code not in state.actions),
        indicators=len(dataset.indicators),
        measurements=len(dataset.measurements),
        reviews=len(dataset.reviews),
        changes=changes,
    )
    await _save(session, dataset, changes)
    for change in changes if notify else ():
        notification, created = await outbox.enqueue(session, to_notification(change))
        if created:
            report.notification_ids.append(notification.id)
    return report


# --- reading the stored state ----------------------------------------------------------


async def load_reference(session: AsyncSession) -> Reference:
    strategies = frozenset(await session.scalars(select(Strategy.id)))
    zones: dict[str, str] = {}
    for zone in await session.scalars(select(Zone)):
        zones[fold(zone.id)] = zones[fold(zone.name)] = zone.id
    comuni: dict[str, str] = {}
    comune_zones: dict[str, str] = {}
    for comune in await session.scalars(select(Comune)):
        comuni[fold(comune.name)] = comuni[comune.istat] = comune.istat
        comune_zones[comune.istat] = comune.zone_id
    indicators = await session.execute(select(Indicator.action_code, Indicator.code))
    return Reference(
        strategies=strategies,
        zones=zones,
        comuni=comuni,
        comune_zones=comune_zones,
        known_actions=frozenset(await session.scalars(select(PlanAction.code))),
        known_indicators=frozenset((row.action_code, row.code) for row in indicators),
    )


async def load_state(session: AsyncSession, dataset: Dataset) -> StoredState:
    codes = {a.code for a in dataset.actions}
    codes |= {i.action_code for i in dataset.indicators}
    codes |= {m.action_code for m in dataset.measurements}
    actions = await _actions_with_indicators(session, codes)
    state = StoredState(
        review_years=set(await session.scalars(select(AnnualReview.year))),
        plan_tags=await _plan_tags(session),
    )
    for action in actions:
        state.actions[action.code] = StoredAction(
            action.code,
            action.status,
            action.progress_pct,
            action.notified_progress_pct,
            action.end_date,
        )
        state.action_info[action.code] = _as_data(action)
        for indicator in action.indicators:
            state.indicators[(action.code, indicator.code)] = _stored_indicator(indicator)
    for data in dataset.actions:
        state.action_info[data.code] = data
    return state


async def _actions_with_indicators(session: AsyncSession, codes: set[str]) -> list[PlanAction]:
    if not codes:
        return []
    query = (
        select(PlanAction)
        .where(PlanAction.code.in_(codes))
        .options(selectinload(PlanAction.indicators).selectinload(Indicator.measurements))
    )
    return list(await session.scalars(query))


async def _plan_tags(session: AsyncSession) -> tuple[tuple[str, str], ...]:
    strategies = [("strategy", s) for s in await session.scalars(select(Strategy.id))]
    zones = [("zone", z) for z in await session.scalars(select(Zone.id))]
    return tuple(strategies + zones)


def _stored_indicator(indicator: Indicator) -> StoredIndicator:
    latest = indicator.measurements[-1] if indicator.measurements else None
    return StoredIndicator(
        name_it=indicator.name_it,
        name_en=indicator.name_en,
        unit=indicator.unit,
        baseline=indicator.baseline,
        target=indicator.target,
        target_year=indicator.target_year,
        latest_period=latest.period if latest else None,
        latest_value=latest.value if latest else None,
    )


def _as_data(action: PlanAction) -> ActionData:
    return ActionData(
        code=action.code,
        strategy_id=action.strategy_id,
        title_it=action.title_it,
        title_en=action.title_en,
        description_it=action.description_it,
        description_en=action.description_en,
        zone_ids=tuple(action.zone_ids or ()),
        comuni_istat=tuple(action.comuni_istat or ()),
        responsible=action.responsible,
        status=ActionStatus(action.status),
        progress_pct=action.progress_pct,
        start_date=action.start_date,
        end_date=action.end_date,
        funding_source=action.funding_source,
        funding_amount_eur=action.funding_amount_eur,
        links=tuple(action.links or ()),
        sample=action.sample,
    )


# --- saving ----------------------------------------------------------------------------


async def _save(session: AsyncSession, dataset: Dataset, changes: Sequence[Change]) -> None:
    await _save_actions(session, dataset.actions, changes)
    await session.flush()
    indicator_ids = await _save_indicators(session, dataset.indicators)
    await _save_measurements(session, dataset.measurements, indicator_ids)
    await _save_reviews(session, dataset.reviews)
    await session.flush()


async def _save_actions(
    session: AsyncSession, actions: Sequence[ActionData], changes: Sequence[Change]
) -> None:
    existing = await _by_code(session, [a.code for a in actions])
    for data in actions:
        row = existing.get(data.code) or PlanAction(code=data.code, notified_progress_pct=0)
        _copy_action(data, row)
        announced = announced_progress(changes, data.code)
        if announced is not None:
            row.notified_progress_pct = announced
        session.add(row)


def _copy_action(data: ActionData, row: PlanAction) -> None:
    row.strategy_id = data.strategy_id
    row.title_it, row.title_en = data.title_it, data.title_en
    row.description_it, row.description_en = data.description_it, data.description_en
    row.zone_ids, row.comuni_istat = list(data.zone_ids), list(data.comuni_istat)
    row.responsible = data.responsible
    row.status = data.status.value
    row.progress_pct = data.progress_pct
    row.start_date, row.end_date = data.start_date, data.end_date
    row.funding_source, row.funding_amount_eur = data.funding_source, data.funding_amount_eur
    row.links = list(data.links)
    row.sample = data.sample


async def _by_code(session: AsyncSession, codes: Sequence[str]) -> dict[str, PlanAction]:
    if not codes:
        return {}
    rows = await session.scalars(select(PlanAction).where(PlanAction.code.in_(codes)))
    return {row.code: row for row in rows}


async def _save_indicators(
    session: AsyncSession, indicators: Sequence[IndicatorData]
) -> dict[tuple[str, str], int]:
    rows = {(i.action_code, i.code): i for i in await session.scalars(select(Indicator))}
    for data in indicators:
        key = (data.action_code, data.code)
        row = rows.get(key) or Indicator(action_code=data.action_code, code=data.code)
        row.name_it, row.name_en, row.unit = data.name_it, data.name_en, data.unit
        row.baseline, row.baseline_year = data.baseline, data.baseline_year
        row.target, row.target_year = data.target, data.target_year
        session.add(row)
        rows[key] = row
    await session.flush()
    return {key: row.id for key, row in rows.items()}


async def _save_measurements(
    session: AsyncSession,
    measurements: Sequence[MeasurementData],
    indicator_ids: dict[tuple[str, str], int],
) -> None:
    if not measurements:
        return
    ids = {indicator_ids[(m.action_code, m.indicator_code)] for m in measurements}
    query = select(Measurement).where(Measurement.indicator_id.in_(ids))
    stored = {(m.indicator_id, m.period): m for m in await session.scalars(query)}
    for data in measurements:
        indicator_id = indicator_ids[(data.action_code, data.indicator_code)]
        row = stored.get((indicator_id, data.period))
        if row is None:
            row = Measurement(indicator_id=indicator_id, period=data.period)
            session.add(row)
        row.value, row.source = data.value, data.source


async def _save_reviews(session: AsyncSession, reviews: Sequence[ReviewData]) -> None:
    for data in reviews:
        row = await session.get(AnnualReview, data.year) or AnnualReview(year=data.year)
        row.published_on = data.published_on
        row.summary_it, row.summary_en = data.summary_it, data.summary_en
        row.document_url = data.document_url
        row.sample = data.sample
        session.add(row)


# --- browsing --------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorView:
    indicator: Indicator
    latest: Measurement | None


@dataclass(frozen=True)
class ActionCard:
    action: PlanAction
    strategy: Strategy
    zone_names: list[str]
    comune_names: list[str]
    indicators: list[IndicatorView]


async def action_counts(session: AsyncSession) -> dict[str, int]:
    """Number of actions per strategy id."""
    query = select(PlanAction.strategy_id, func.count()).group_by(PlanAction.strategy_id)
    return {strategy: count for strategy, count in (await session.execute(query)).all()}


async def actions_of_strategy(session: AsyncSession, strategy_id: str) -> list[PlanAction]:
    query = select(PlanAction).where(PlanAction.strategy_id == strategy_id)
    return list(await session.scalars(query.order_by(PlanAction.code)))


async def get_action(session: AsyncSession, code: str) -> PlanAction | None:
    return await session.get(PlanAction, code)


async def action_card(session: AsyncSession, code: str) -> ActionCard | None:
    actions = await _actions_with_indicators(session, {code})
    if not actions:
        return None
    action = actions[0]
    zones = await session.scalars(select(Zone).where(Zone.id.in_(action.zone_ids or [])))
    comuni = await session.scalars(
        select(Comune).where(Comune.istat.in_(action.comuni_istat or []))
    )
    return ActionCard(
        action=action,
        strategy=await session.get_one(Strategy, action.strategy_id),
        zone_names=sorted(zone.name for zone in zones),
        comune_names=sorted(comune.name for comune in comuni),
        indicators=[
            IndicatorView(i, i.measurements[-1] if i.measurements else None)
            for i in action.indicators
        ],
    )


async def search_actions(session: AsyncSession, query: str, limit: int = 20) -> list[PlanAction]:
    """Actions about a comune or zone named in the query, else whose text has every word."""
    words = fold(query).split()
    if not words:
        return []
    actions = list(await session.scalars(select(PlanAction).order_by(PlanAction.code)))
    places = await _places_named(session, fold(query))
    if places:
        found = [a for a in actions if places & set((a.zone_ids or []) + (a.comuni_istat or []))]
    else:
        found = [a for a in actions if all(word in _searchable(a) for word in words)]
    return found[:limit]


async def _places_named(session: AsyncSession, name: str) -> set[str]:
    """A comune named so (with its zone), or a zone named so; empty when neither."""
    for comune in await session.scalars(select(Comune)):
        if fold(comune.name) == name:
            return {comune.istat, comune.zone_id}
    for zone in await session.scalars(select(Zone)):
        if name in (fold(zone.name), fold(zone.id)):
            return {zone.id}
    return set()


def _searchable(action: PlanAction) -> str:
    parts = [
        action.code,
        action.title_it,
        action.title_en,
        action.description_it or "",
        action.description_en or "",
        action.responsible or "",
        action.funding_source or "",
    ]
    return fold(" ".join(parts))
