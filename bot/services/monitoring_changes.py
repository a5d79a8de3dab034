"""What changed between the stored monitoring state and new data (pure, no database).

Each change becomes one notification with a stable source key, so the same data imported
twice (or a poll that crashed after enqueueing) never notifies twice. Rules:

- a new action is announced once; its indicators and measurements are not announced apart;
- a status change carries the progress with it (no separate progress message);
- progress is announced when it moved by at least the threshold since it was last announced,
  so small steps add up;
- for each indicator only the newest new period is announced (a back-filled history is not),
  as "target reached" when that value reaches the target for the first time;
- an end date moved later is a slip; a new annual review is announced to every follower.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from bot.config import DEFAULT_PROGRESS_THRESHOLD
from bot.db.models import NotificationKind, TargetKind
from bot.services.monitoring_validate import (
    ActionData,
    Dataset,
    IndicatorData,
    MeasurementData,
    ReviewData,
)
from bot.services.outbox import NewNotification

TEMPLATE = "monitoring"


class ChangeKind(enum.StrEnum):
    NEW_ACTION = "new_action"
    STATUS = "status"
    PROGRESS = "progress"
    MEASUREMENT = "measurement"
    TARGET_REACHED = "target_reached"
    DATE_SLIPPED = "date_slipped"
    REVIEW = "review"


@dataclass(frozen=True)
class StoredAction:
    code: str
    status: str
    progress_pct: int
    notified_progress_pct: int
    end_date: date | None


@dataclass(frozen=True)
class StoredIndicator:
    name_it: str
    name_en: str
    unit: str | None
    baseline: float | None
    target: float | None
    target_year: int | None
    latest_period: str | None
    latest_value: float | None


@dataclass
class StoredState:
    """The stored rows the new data touches (actions and indicators by code)."""

    actions: dict[str, StoredAction] = field(default_factory=dict)
    indicators: dict[tuple[str, str], StoredIndicator] = field(default_factory=dict)
    review_years: set[int] = field(default_factory=set)
    # Every action the new data may refer to (for tags and titles), stored or new.
    action_info: dict[str, ActionData] = field(default_factory=dict)
    # Strategy and zone ids: an annual review concerns every follower of the plan.
    plan_tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    source_key: str
    payload: dict
    tags: tuple[tuple[str, str], ...]
    action_code: str | None = None


def detect_changes(
    data: Dataset,
    state: StoredState,
    *,
    today: date,
    threshold: int = DEFAULT_PROGRESS_THRESHOLD,
) -> list[Change]:
    """The changes the new data brings, in a readable order."""
    changes: list[Change] = []
    new_actions = set()
    for action in data.actions:
        stored = state.actions.get(action.code)
        if stored is None:
            new_actions.add(action.code)
            changes.append(_new_action(action))
        else:
            changes.extend(_action_changes(stored, action, today, threshold))
    for indicator, measurement in _newest_measurements(data, state, new_actions):
        changes.append(_measurement_change(indicator, measurement, state))
    for review in data.reviews:
        if review.year not in state.review_years:
            changes.append(_review_change(review, state.plan_tags))
    return changes


def announced_progress(changes: Iterable[Change], code: str) -> int | None:
    """The progress the changes announce for an action, if any (to remember it)."""
    for change in changes:
        if change.action_code == code and change.kind in _PROGRESS_CARRIERS:
            return change.payload["progress"]
    return None


_PROGRESS_CARRIERS = (ChangeKind.NEW_ACTION, ChangeKind.STATUS, ChangeKind.PROGRESS)


def to_notification(change: Change) -> NewNotification:
    return NewNotification(
        kind=NotificationKind.MONITORING,
        source_key=change.source_key,
        template=TEMPLATE,
        payload=change.payload,
        tags=change.tags,
    )


def action_tags(action: ActionData) -> tuple[tuple[str, str], ...]:
    tags = [(TargetKind.STRATEGY.value, action.strategy_id)]
    tags += [(TargetKind.ZONE.value, zone) for zone in action.zone_ids]
    tags += [(TargetKind.COMUNE.value, istat) for istat in action.comuni_istat]
    tags.append((TargetKind.ACTION.value, action.code))
    return tuple(tags)


def _base(kind: ChangeKind, action: ActionData) -> dict:
    return {
        "change": kind.value,
        "action": action.code,
        "strategy": action.strategy_id,
        "title": {
            "it": f"{action.code} · {action.title_it}",
            "en": f"{action.code} · {action.title_en}",
        },
        "name": {"it": action.title_it, "en": action.title_en},
        "link": action.links[0] if action.links else None,
        "sample": action.sample,
    }


def _action_change(kind: ChangeKind, action: ActionData, key_suffix: str, **details) -> Change:
    payload = _base(kind, action) | details
    return Change(
        kind, f"monitoring:{action.code}:{key_suffix}", payload, action_tags(action), action.code
    )


def _new_action(action: ActionData) -> Change:
    return _action_change(
        ChangeKind.NEW_ACTION,
        action,
        "new",
        status=action.status.value,
        progress=action.progress_pct,
        end=_iso(action.end_date),
        funding_source=action.funding_source,
        funding_amount_eur=action.funding_amount_eur,
    )


def _action_changes(
    stored: StoredAction, action: ActionData, today: date, threshold: int
) -> list[Change]:
    changes = []
    day = today.isoformat()
    if stored.status != action.status.value:
        changes.append(
            _action_change(
                ChangeKind.STATUS,
                action,
                f"status:{action.status.value}:{day}",
                old=stored.status,
                new=action.status.value,
                progress=action.progress_pct,
            )
        )
    elif abs(action.progress_pct - stored.notified_progress_pct) >= threshold:
        changes.append(
            _action_change(
                ChangeKind.PROGRESS,
                action,
                f"progress:{action.progress_pct}:{day}",
                old=stored.notified_progress_pct,
                progress=action.progress_pct,
            )
        )
    if stored.end_date and action.end_date and action.end_date > stored.end_date:
        changes.append(
            _action_change(
                ChangeKind.DATE_SLIPPED,
                action,
                f"end:{action.end_date.isoformat()}",
                old=stored.end_date.isoformat(),
                new=action.end_date.isoformat(),
            )
        )
    return changes


def _newest_measurements(
    data: Dataset, state: StoredState, new_actions: set[str]
) -> list[tuple[StoredIndicator, MeasurementData]]:
    """Per indicator of a known action, its newest period if newer than the stored one."""
    indicators = _merged_indicators(data, state)
    newest: dict[tuple[str, str], MeasurementData] = {}
    for measurement in data.measurements:
        key = (measurement.action_code, measurement.indicator_code)
        if measurement.action_code in new_actions:
            continue
        latest = state.indicators.get(key)
        if (
            latest is not None
            and latest.latest_period
            and (measurement.period <= latest.latest_period)
        ):
            continue
        if key not in newest or measurement.period > newest[key].period:
            newest[key] = measurement
    return [(indicators[key], measurement) for key, measurement in newest.items()]


def _merged_indicators(data: Dataset, state: StoredState) -> dict[tuple[str, str], StoredIndicator]:
    """Indicator definitions as they will be after the import, with the stored latest value."""
    merged = dict(state.indicators)
    for indicator in data.indicators:
        key = (indicator.action_code, indicator.code)
        stored = state.indicators.get(key)
        merged[key] = _definition(indicator, stored)
    return merged


def _definition(indicator: IndicatorData, stored: StoredIndicator | None) -> StoredIndicator:
    return StoredIndicator(
        name_it=indicator.name_it,
        name_en=indicator.name_en,
        unit=indicator.unit,
        baseline=indicator.baseline,
        target=indicator.target,
        target_year=indicator.target_year,
        latest_period=stored.latest_period if stored else None,
        latest_value=stored.latest_value if stored else None,
    )


def reaches_target(value: float | None, indicator: StoredIndicator) -> bool:
    """Reached when the value got to the target, upwards or downwards from the baseline."""
    if value is None or indicator.target is None:
        return False
    if indicator.baseline is not None and indicator.target < indicator.baseline:
        return value <= indicator.target
    return value >= indicator.target


def _measurement_change(
    indicator: StoredIndicator, measurement: MeasurementData, state: StoredState
) -> Change:
    action = state.action_info[measurement.action_code]
    reached = reaches_target(measurement.value, indicator) and not reaches_target(
        indicator.latest_value, indicator
    )
    kind = ChangeKind.TARGET_REACHED if reached else ChangeKind.MEASUREMENT
    key = f"{measurement.indicator_code}:"
    key += f"target:{indicator.target:g}" if reached else f"period:{measurement.period}"
    return _action_change(
        kind,
        action,
        key,
        indicator={"it": indicator.name_it, "en": indicator.name_en},
        unit=indicator.unit,
        period=measurement.period,
        value=measurement.value,
        previous=indicator.latest_value,
        previous_period=indicator.latest_period,
        baseline=indicator.baseline,
        target=indicator.target,
        target_year=indicator.target_year,
    )


def _review_change(review: ReviewData, plan_tags: tuple[tuple[str, str], ...]) -> Change:
    payload = {
        "change": ChangeKind.REVIEW.value,
        "year": review.year,
        "date": _iso(review.published_on),
        "summary": {"it": review.summary_it, "en": review.summary_en or review.summary_it},
        "link": review.document_url,
        "sample": review.sample,
    }
    return Change(ChangeKind.REVIEW, f"monitoring:review:{review.year}", payload, plan_tags)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
