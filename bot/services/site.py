"""What the public pages and the open data show: the plan's figures, aggregated in SQL.

Plain queries over the caller's session, no HTML. The participation record is only ever
counted, never read: every count is a `Count`, and one below `PRIVACY_THRESHOLD` is shown as
"fewer than 5", so nobody can be singled out in a small comune. In a table whose counts add up
to a total shown beside it, one such count alone could be worked out by subtraction: it and
the smallest other counts are withheld as well (`withhold_derivable`). Hidden (moderated)
entries are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import pairwise

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.db import dialect_name
from bot.db.models import (
    ActionStatus,
    Comune,
    Event,
    Indicator,
    Notification,
    NotificationKind,
    NotificationTag,
    PlanAction,
    RecordEntry,
    RecordEntryTag,
    Strategy,
    TargetKind,
    UTCDateTime,
    Zone,
)
from bot.i18n import TIMEZONE, _, format_number

PRIVACY_THRESHOLD = 5


# --- counts of the participation record ---------------------------------------------------


@dataclass(frozen=True)
class Count:
    """How many contributions; `shown` is None below the privacy threshold ("fewer than 5")
    and when `withheld`: not said at all, not even whether below the threshold, so that a
    small count of the same table cannot be worked out from the others and their total."""

    value: int
    shown: int | None
    withheld: bool = False

    @classmethod
    def of(cls, value: int) -> Count:
        return cls(value, value if value >= PRIVACY_THRESHOLD else None)

    @property
    def small(self) -> bool:
        return self.value < PRIVACY_THRESHOLD

    @property
    def fewer_than_threshold(self) -> bool | None:
        """What the count says about the threshold: None when withheld."""
        return None if self.withheld else self.shown is None

    def withhold(self) -> Count:
        return Count(self.value, None, withheld=True)


def count_label(count: Count) -> str:
    """The count as people read it, in the current language: "12", "fewer than 5" or "not
    shown"."""
    if count.withheld:
        return _("not shown")
    if count.shown is None:
        return _("fewer than {count}").format(count=format_number(PRIVACY_THRESHOLD))
    return format_number(count.shown)


Counts = tuple[tuple[str, Count], ...]


def withhold_derivable(counts: Counts) -> Counts:
    """The table with no count below the threshold left to subtraction (secondary suppression).

    A reader who knows the table's total knows the sum of the counts not shown. That sum gives
    them away when there is only one, or when each must be the largest a small count can be
    (two counts not shown, together 8: both are 4). Then the smallest shown count is withheld
    too (being at least the threshold, it is enough), and the small ones with it rather than
    read "fewer than 5", so that nobody can tell which of them is the small one.
    """
    small = [count.value for _key, count in counts if count.small]
    if not small or len(small) == len(counts):
        return counts
    if len(small) > 1 and sum(small) < (PRIVACY_THRESHOLD - 1) * len(small):
        return counts
    smallest_shown = min(
        (index for index, (_key, count) in enumerate(counts) if not count.small),
        key=lambda index: counts[index][1].value,
    )
    return tuple(
        (key, count.withhold() if count.small or index == smallest_shown else count)
        for index, (key, count) in enumerate(counts)
    )


@dataclass(frozen=True)
class ParticipationFigures:
    """Contributions to the participation record (visible entries), as aggregates only.

    Months are Europe/Rome calendar months ("YYYY-MM"), from the first contribution's to the
    current one; zones and strategies are in the plan's order, actions by code, zeros included.
    """

    total: Count
    by_kind: Counts = ()
    by_month: Counts = ()
    by_zone: Counts = ()
    by_strategy: Counts = ()
    by_action: Counts = ()

    def for_zone(self, zone_id: str) -> Count:
        return dict(self.by_zone).get(zone_id, Count.of(0))

    def for_strategy(self, strategy_id: str) -> Count:
        return dict(self.by_strategy).get(strategy_id, Count.of(0))

    def for_action(self, action_code: str) -> Count:
        return dict(self.by_action).get(action_code, Count.of(0))


_VISIBLE = RecordEntry.hidden.is_(False)


async def participation_figures(
    session: AsyncSession, *, now: datetime | None = None
) -> ParticipationFigures:
    total = await session.scalar(select(func.count()).select_from(RecordEntry).where(_VISIBLE))
    by_kind = await session.execute(
        select(RecordEntry.kind, func.count())
        .where(_VISIBLE)
        .group_by(RecordEntry.kind)
        .order_by(RecordEntry.kind)
    )
    return ParticipationFigures(
        total=Count.of(total or 0),
        by_kind=_counts(by_kind),
        by_month=withhold_derivable(await _by_month(session, now or datetime.now(UTC))),
        by_zone=_counts(await session.execute(_zone_counts())),
        by_strategy=_counts(await session.execute(_strategy_counts())),
        by_action=_counts(await session.execute(_action_counts())),
    )


async def contributions(
    session: AsyncSession,
    *,
    action_code: str | None = None,
    strategy_id: str | None = None,
    zone_id: str | None = None,
) -> Count:
    """Visible contributions about one action, strategy or zone (a zone: about it or one of
    its comuni, or from someone who declared a comune there, as the staff's filter counts),
    as its row of the table of them all reads: withheld when withheld there."""
    if zone_id is not None:
        query, key = _zone_counts(), zone_id
    elif action_code is not None:
        query, key = _action_counts(), action_code
    else:
        query, key = _strategy_counts(), strategy_id or ""
    return dict(_counts(await session.execute(query))).get(key, Count.of(0))


def _counts(rows: Iterable[tuple[str, int]]) -> Counts:
    return withhold_derivable(tuple((key, Count.of(value)) for key, value in rows))


def _tag_pairs(kind: TargetKind) -> Select:
    return (
        select(RecordEntryTag.entry_id, RecordEntryTag.target_id)
        .join(RecordEntry, RecordEntry.id == RecordEntryTag.entry_id)
        .where(_VISIBLE, RecordEntryTag.target_kind == kind.value)
    )


def _zone_pairs():
    """(entry, zone) once each: about the zone, about one of its comuni, or from it."""
    about_zone = _tag_pairs(TargetKind.ZONE)
    about_comune = (
        select(RecordEntryTag.entry_id, Comune.zone_id)
        .join(RecordEntry, RecordEntry.id == RecordEntryTag.entry_id)
        .join(Comune, Comune.istat == RecordEntryTag.target_id)
        .where(_VISIBLE, RecordEntryTag.target_kind == TargetKind.COMUNE.value)
    )
    from_zone = select(RecordEntry.id, RecordEntry.participant_zone).where(
        _VISIBLE, RecordEntry.participant_zone.is_not(None)
    )
    combined = union(about_zone, about_comune, from_zone).subquery()
    return select(
        combined.c[0].label("entry_id"), combined.c[1].label("zone_id")
    )  # UNION: an entry counts once per zone


def _zone_counts() -> Select:
    pairs = _zone_pairs().subquery()
    return (
        select(Zone.id, func.count(pairs.c.entry_id))
        .outerjoin(pairs, pairs.c.zone_id == Zone.id)
        .group_by(Zone.id, Zone.position)
        .order_by(Zone.position)
    )


def _strategy_counts() -> Select:
    pairs = _tag_pairs(TargetKind.STRATEGY).subquery()
    return (
        select(Strategy.id, func.count(pairs.c.entry_id))
        .outerjoin(pairs, pairs.c.target_id == Strategy.id)
        .group_by(Strategy.id, Strategy.position)
        .order_by(Strategy.position)
    )


def _action_counts() -> Select:
    pairs = _tag_pairs(TargetKind.ACTION).subquery()
    return (
        select(PlanAction.code, func.count(pairs.c.entry_id))
        .outerjoin(pairs, pairs.c.target_id == PlanAction.code)
        .group_by(PlanAction.code)
        .order_by(PlanAction.code)
    )


_MONTHS_PER_QUERY = 200  # SQLite allows 500 SELECTs in one UNION


async def _by_month(session: AsyncSession, now: datetime) -> Counts:
    """Contributions per Rome calendar month, each month one range of created_at's index;
    the months' bounds (Rome midnights, in UTC) come from zoneinfo."""
    oldest = await session.scalar(select(func.min(RecordEntry.created_at)).where(_VISIBLE))
    if oldest is None:
        return ()
    starts = _month_starts(oldest.astimezone(TIMEZONE).date(), now.astimezone(TIMEZONE).date())
    found: list[tuple[str, Count]] = []
    for chunk in range(0, len(starts) - 1, _MONTHS_PER_QUERY):
        bounds = starts[chunk : chunk + _MONTHS_PER_QUERY + 1]
        months = union_all(
            *(
                select(
                    literal(_rome_midnight(start), UTCDateTime()).label("start"),
                    literal(_rome_midnight(stop), UTCDateTime()).label("stop"),
                )
                for start, stop in pairwise(bounds)
            )
        ).subquery()
        within = and_(
            RecordEntry.created_at >= months.c.start,
            RecordEntry.created_at < months.c.stop,
            _VISIBLE,
        )
        query = (
            select(months.c.start, func.count(RecordEntry.id))
            .select_from(months)
            .outerjoin(RecordEntry, within)
            .group_by(months.c.start)
            .order_by(months.c.start)
        )
        for start, value in await session.execute(query):
            month = start.astimezone(TIMEZONE).date()
            found.append((f"{month.year:04d}-{month.month:02d}", Count.of(value)))
    return tuple(found)


def _month_starts(first: date, last: date) -> list[date]:
    """The first day of every month from `first`'s to `last`'s, and of the one after."""
    starts: list[date] = []
    year, month = first.year, first.month
    while not starts or starts[-1] <= last:
        starts.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return starts


def _rome_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TIMEZONE).astimezone(UTC)


# --- the plan's changes -------------------------------------------------------------------


@dataclass(frozen=True)
class PlanChange:
    """One change of the plan as announced (a monitoring notification)."""

    at: datetime
    kind: str  # a monitoring_changes.ChangeKind value
    action_code: str | None
    strategy_id: str | None
    zone_ids: tuple[str, ...]
    payload: dict
    notification_id: int


async def plan_changes(
    session: AsyncSession,
    *,
    limit: int = 50,
    action_code: str | None = None,
    strategy_id: str | None = None,
    zone_id: str | None = None,
) -> list[PlanChange]:
    """The newest changes first; those about an action, strategy or zone when given (an
    annual review concerns every strategy and zone)."""
    query = select(Notification).where(Notification.kind == NotificationKind.MONITORING.value)
    for kind, target in (
        (TargetKind.ACTION, action_code),
        (TargetKind.STRATEGY, strategy_id),
        (TargetKind.ZONE, zone_id),
    ):
        if target is not None:
            query = query.where(_notification_tagged(kind, target))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    return [_change(notification) for notification in await session.scalars(query)]


def _notification_tagged(kind: TargetKind, target: str) -> ColumnElement[bool]:
    return exists().where(
        NotificationTag.notification_id == Notification.id,
        NotificationTag.target_kind == kind.value,
        NotificationTag.target_id == target,
    )


def _change(notification: Notification) -> PlanChange:
    payload = notification.payload or {}
    zones = sorted(t.target_id for t in notification.tags if t.target_kind == TargetKind.ZONE)
    return PlanChange(
        at=notification.created_at,
        kind=str(payload.get("change", "")),
        action_code=payload.get("action"),
        strategy_id=payload.get("strategy"),
        zone_ids=tuple(zones),
        payload=payload,
        notification_id=notification.id,
    )


# --- progress of the plan's actions ------------------------------------------------------


@dataclass(frozen=True)
class ProgressSummary:
    """The actions of a strategy or zone: how many, by status, their average progress."""

    actions: int = 0
    by_status: tuple[tuple[str, int], ...] = tuple((status.value, 0) for status in ActionStatus)
    average_progress: float | None = None
    sample_actions: int = 0


def _items_of(session: AsyncSession, column):
    """The elements of a JSON list column as a table with a `value` column (per row)."""
    if dialect_name(session) == "postgresql":
        return func.json_array_elements_text(column).table_valued("value")
    return func.json_each(column).table_valued("value")


def _summaries(rows: Iterable[Sequence]) -> dict[str, ProgressSummary]:
    """(key, status, actions, progress sum, sample actions) rows → one summary per key."""
    grouped: dict[str, dict[str, tuple[int, int, int]]] = {}
    for key, status, actions, progress, sample in rows:
        grouped.setdefault(key, {})[status] = (int(actions), int(progress or 0), int(sample or 0))
    summaries = {}
    for key, statuses in grouped.items():
        actions = sum(count for count, _progress, _sample in statuses.values())
        progress = sum(total for _count, total, _sample in statuses.values())
        summaries[key] = ProgressSummary(
            actions=actions,
            by_status=tuple(
                (status.value, statuses.get(status.value, (0, 0, 0))[0]) for status in ActionStatus
            ),
            average_progress=progress / actions if actions else None,
            sample_actions=sum(sample for _count, _progress, sample in statuses.values()),
        )
    return summaries


def _progress_columns() -> tuple:
    return (
        PlanAction.status,
        func.count(),
        func.sum(PlanAction.progress_pct),
        func.sum(case((PlanAction.sample.is_(True), 1), else_=0)),
    )


async def strategy_summaries(session: AsyncSession) -> dict[str, ProgressSummary]:
    """Per strategy id (strategies without actions are missing)."""
    query = select(PlanAction.strategy_id, *_progress_columns()).group_by(
        PlanAction.strategy_id, PlanAction.status
    )
    return _summaries(await session.execute(query))


async def zone_summaries(
    session: AsyncSession, *, strategy_id: str | None = None
) -> dict[str, ProgressSummary]:
    """Per zone id, over the actions that concern the zone (of one strategy when given)."""
    zones = _items_of(session, PlanAction.zone_ids)
    query = (
        select(zones.c.value, *_progress_columns())
        .select_from(PlanAction)
        .join(zones, true())
        .group_by(zones.c.value, PlanAction.status)
    )
    if strategy_id is not None:
        query = query.where(PlanAction.strategy_id == strategy_id)
    return _summaries(await session.execute(query))


async def zone_summary(session: AsyncSession, zone_id: str) -> ProgressSummary:
    return (await zone_summaries(session)).get(zone_id, ProgressSummary())


def _contains(session: AsyncSession, column, value: str) -> ColumnElement[bool]:
    items = _items_of(session, column)
    return exists(select(literal(1)).select_from(items).where(items.c.value == value))


async def actions_of_strategy(session: AsyncSession, strategy_id: str) -> list[PlanAction]:
    query = select(PlanAction).where(PlanAction.strategy_id == strategy_id)
    return list(await session.scalars(query.order_by(PlanAction.code)))


async def actions_of_zone(session: AsyncSession, zone_id: str) -> list[PlanAction]:
    query = select(PlanAction).where(_contains(session, PlanAction.zone_ids, zone_id))
    return list(await session.scalars(query.order_by(PlanAction.code)))


# --- one action ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionDetails:
    action: PlanAction
    strategy: Strategy
    zones: list[Zone]
    comuni: list[Comune]
    indicators: list[Indicator]  # with their measurements, oldest period first
    changes: list[PlanChange]
    events: list[Event]
    contributions: Count


async def action_details(
    session: AsyncSession, code: str, *, changes: int = 50, events: int = 20
) -> ActionDetails | None:
    query = (
        select(PlanAction)
        .where(PlanAction.code == code)
        .options(selectinload(PlanAction.indicators).selectinload(Indicator.measurements))
    )
    action = await session.scalar(query)
    if action is None:
        return None
    zones = await session.scalars(
        select(Zone).where(Zone.id.in_(action.zone_ids or [])).order_by(Zone.position)
    )
    comuni = await session.scalars(
        select(Comune).where(Comune.istat.in_(action.comuni_istat or [])).order_by(Comune.name)
    )
    return ActionDetails(
        action=action,
        strategy=await session.get_one(Strategy, action.strategy_id),
        zones=list(zones),
        comuni=list(comuni),
        indicators=list(action.indicators),
        changes=await plan_changes(session, limit=changes, action_code=code),
        events=await related_events(
            session,
            strategy_ids=[action.strategy_id],
            zone_ids=list(action.zone_ids or []),
            comuni_istat=list(action.comuni_istat or []),
            limit=events,
        ),
        contributions=await contributions(session, action_code=code),
    )


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventLists:
    upcoming: list[Event] = field(default_factory=list)  # soonest first
    past: list[Event] = field(default_factory=list)  # latest first


async def events_around(
    session: AsyncSession, now: datetime, *, upcoming: int = 200, past: int = 100
) -> EventLists:
    """Events still to end (or start) and those over, with their comune loaded."""
    ongoing = or_(Event.starts_at >= now, and_(Event.ends_at.is_not(None), Event.ends_at > now))
    over = and_(Event.starts_at < now, or_(Event.ends_at.is_(None), Event.ends_at <= now))
    coming = select(Event).where(ongoing).order_by(Event.starts_at, Event.id).limit(upcoming)
    ended = select(Event).where(over).order_by(Event.starts_at.desc(), Event.id.desc()).limit(past)
    return EventLists(list(await session.scalars(coming)), list(await session.scalars(ended)))


async def related_events(
    session: AsyncSession,
    *,
    strategy_ids: Sequence[str] = (),
    zone_ids: Sequence[str] = (),
    comuni_istat: Sequence[str] = (),
    limit: int = 20,
) -> list[Event]:
    """Events of these strategies, zones or comuni, the newest start first."""
    conditions = [_contains(session, Event.strategies, s) for s in strategy_ids]
    conditions += [_contains(session, Event.zones, z) for z in zone_ids]
    if comuni_istat:
        conditions.append(Event.comune_istat.in_(comuni_istat))
    if not conditions:
        return []
    query = (
        select(Event)
        .where(or_(*conditions))
        .order_by(Event.starts_at.desc(), Event.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(query))


@dataclass(frozen=True)
class PlaceNames:
    """The names of the zones (all) and of the comuni some events take place in."""

    zones: dict[str, str]
    comuni: dict[str, str]


async def place_names(session: AsyncSession, events: Iterable[Event]) -> PlaceNames:
    zones = {zone_id: name for zone_id, name in await session.execute(select(Zone.id, Zone.name))}
    comuni = await comune_names(session, (event.comune_istat for event in events))
    return PlaceNames(zones, comuni)


async def comune_names(session: AsyncSession, istat: Iterable[str | None]) -> dict[str, str]:
    codes = {code for code in istat if code}
    if not codes:
        return {}
    rows = await session.execute(select(Comune.istat, Comune.name).where(Comune.istat.in_(codes)))
    return {istat: name for istat, name in rows}
