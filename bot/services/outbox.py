"""The outbox: notifications in, deliveries out, with durable states.

notification (tags) ──target()──▶ one delivery per matching active subscriber (INSERT…SELECT,
so memory does not grow with the audience) ──claim()──▶ 'sending' ──record()──▶ sent / failed …
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, literal, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import affected_rows, dialect_name
from bot.db.engine import hold_audience
from bot.db.models import (
    Comune,
    Delivery,
    DeliveryState,
    Notification,
    NotificationKind,
    NotificationTag,
    Participant,
    Subscriber,
    Subscription,
    TargetKind,
    UTCDateTime,
    utcnow,
)
from bot.services import timing


@dataclass(frozen=True)
class NewNotification:
    kind: NotificationKind
    source_key: str
    template: str
    payload: dict
    tags: Iterable[tuple[str, str]] = ()
    language: str | None = None
    everyone: bool = False
    categories: list[str] | None = None
    with_feedback: bool = True
    not_before: datetime | None = None


async def enqueue(session: AsyncSession, new: NewNotification) -> tuple[Notification, bool]:
    """Store a notification once per source_key; returns (notification, created)."""
    existing = await session.scalar(
        select(Notification).where(Notification.source_key == new.source_key)
    )
    if existing is not None:
        return existing, False
    notification = Notification(
        kind=new.kind.value,
        source_key=new.source_key,
        template=new.template,
        payload=new.payload,
        language=new.language,
        everyone=new.everyone,
        categories=new.categories,
        with_feedback=new.with_feedback,
        not_before=new.not_before or utcnow(),
        tags=[
            NotificationTag(target_kind=str(kind), target_id=str(target_id))
            for kind, target_id in sorted(set(new.tags))
        ],
    )
    session.add(notification)
    await session.flush()
    return notification, True


def _insert(session: AsyncSession):
    dialect = dialect_name(session)
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Delivery)


def _matching_subscriptions(tags: Sequence[NotificationTag]):
    """Subscriptions reached by these tags; a comune's news reaches its zone and vice versa."""
    by_kind: dict[str, list[str]] = {}
    for tag in tags:
        by_kind.setdefault(tag.target_kind, []).append(tag.target_id)
    conditions = []
    for kind, ids in by_kind.items():
        conditions.append(and_(Subscription.target_kind == kind, Subscription.target_id.in_(ids)))
    zones = by_kind.get(TargetKind.ZONE.value)
    if zones:
        comuni_of_zones = select(Comune.istat).where(Comune.zone_id.in_(zones))
        conditions.append(
            and_(
                Subscription.target_kind == TargetKind.COMUNE.value,
                Subscription.target_id.in_(comuni_of_zones),
            )
        )
    comuni = by_kind.get(TargetKind.COMUNE.value)
    if comuni:
        zones_of_comuni = select(Comune.zone_id).where(Comune.istat.in_(comuni))
        conditions.append(
            and_(
                Subscription.target_kind == TargetKind.ZONE.value,
                Subscription.target_id.in_(zones_of_comuni),
            )
        )
    return or_(*conditions) if conditions else None


def recipients_query(notification: Notification):
    """Active subscribers this notification is for: (subscriber id, chat id)."""
    query = select(Subscriber.id, Subscriber.chat_id).where(Subscriber.active.is_(True))
    if notification.language:
        query = query.where(Subscriber.language == notification.language)
    if notification.categories:
        declared = select(Participant.subscriber_id).where(
            Participant.category.in_(notification.categories)
        )
        query = query.where(Subscriber.id.in_(declared))
    if notification.everyone:
        return query
    matching = _matching_subscriptions(notification.tags)
    if matching is None:
        return None
    followers = select(Subscription.subscriber_id).where(matching)
    return query.where(Subscriber.id.in_(followers))


async def target(session: AsyncSession, notification: Notification, now: datetime) -> int:
    """Create the deliveries of one notification; running it twice adds nobody twice.

    On PostgreSQL the notification's row is locked first, so two targetings of one
    notification take turns, and erasures wait for the commit (models.Delivery says why).
    The first targeting (no deliveries yet: the usual case) is a plain INSERT…SELECT; a later
    one skips who already has a delivery with ON CONFLICT, which costs an extra index
    probe and WAL record per row (a third of a 100k-recipient insert).
    """
    recipients = recipients_query(notification)
    created = 0
    if recipients is not None:
        if dialect_name(session) == "postgresql":
            if not await _lock(session, notification):
                return 0  # deleted meanwhile: a scheduled broadcast cancelled
            # Nobody is erased (/forget) between being chosen and the commit, so none of the
            # deliveries is left without its subscriber.
            await hold_audience(session)
        rows = recipients.add_columns(
            literal(notification.id).label("notification_id"),
            literal(DeliveryState.PENDING.value).label("state"),
            literal(now, UTCDateTime()).label("due_at"),
            literal(0).label("attempts"),
            literal(now, UTCDateTime()).label("created_at"),
        ).subquery()
        statement = _insert(session).from_select(
            [
                "subscriber_id",
                "chat_id",
                "notification_id",
                "state",
                "due_at",
                "attempts",
                "created_at",
            ],
            # SQLite needs a WHERE before ON CONFLICT in INSERT…SELECT (parsing ambiguity).
            select(rows).where(true()),
        )
        if await _has_deliveries(session, notification.id):
            statement = statement.on_conflict_do_nothing(
                index_elements=["notification_id", "subscriber_id"]
            )
        # The rows inserted (conflicts not), kept before SQLAlchemy closes an INSERT's cursor.
        statement = statement.execution_options(preserve_rowcount=True)
        created = affected_rows(await session.execute(statement))
    notification.targeted_at = now
    return created


async def _lock(session: AsyncSession, notification: Notification) -> bool:
    """FOR NO KEY UPDATE: rows referring to the notification may still be inserted."""
    query = select(Notification.id).where(Notification.id == notification.id)
    return await session.scalar(query.with_for_update(key_share=True)) is not None


async def _has_deliveries(session: AsyncSession, notification_id: int) -> bool:
    query = select(Delivery.id).where(Delivery.notification_id == notification_id).limit(1)
    return await session.scalar(query) is not None


async def target_due(session: AsyncSession, now: datetime, limit: int = 20) -> int:
    """Target the notifications whose time has come; returns deliveries created."""
    query = (
        select(Notification)
        .where(Notification.targeted_at.is_(None), Notification.not_before <= now)
        .order_by(Notification.id)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        # One that another sender is targeting: wait for its commit, then it is left out
        # (targeted) and its deliveries can be claimed; skipping it, this sender could go idle.
        query = query.with_for_update(key_share=True)
    due = await session.scalars(query)
    total = 0
    for notification in list(due):
        total += await target(session, notification, now)
    return total


@dataclass
class Claimed:
    delivery_id: int
    notification_id: int
    subscriber_id: int
    chat_id: int
    language: str
    held: bool
    attempts: int


@dataclass
class ClaimResult:
    claimed: list[Claimed] = field(default_factory=list)
    deferred: int = 0
    skipped: int = 0

    @property
    def handled(self) -> int:
        """The due rows this claim took: claimed, deferred (digests, quiet hours) or skipped."""
        return len(self.claimed) + self.deferred + self.skipped


async def claim_due(
    session: AsyncSession, now: datetime, *, worker: str, limit: int = 500
) -> ClaimResult:
    """Take due deliveries for sending, applying digests and quiet hours on the way."""
    query = (
        select(
            Delivery.id,
            Delivery.notification_id,
            Delivery.subscriber_id,
            Delivery.chat_id,
            Delivery.state,
            Delivery.attempts,
            Subscriber.active,
            Subscriber.language,
            Subscriber.delivery_mode,
            Subscriber.digest_hour,
            Subscriber.digest_weekday,
            Subscriber.quiet_start,
            Subscriber.quiet_end,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(
            Delivery.state.in_([DeliveryState.PENDING.value, DeliveryState.HELD.value]),
            Delivery.due_at <= now,
        )
        .order_by(Delivery.due_at, Delivery.id)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(of=Delivery, skip_locked=True)
    result = ClaimResult()
    inactive: list[int] = []
    for row in (await session.execute(query)).all():
        if not row.active:
            inactive.append(row.id)
            continue
        held = row.state == DeliveryState.HELD.value
        if not held:
            digest_at = timing.next_digest_time(
                now, row.delivery_mode, row.digest_hour, row.digest_weekday
            )
            if digest_at is not None:
                await _set(session, row.id, state=DeliveryState.HELD.value, due_at=digest_at)
                result.deferred += 1
                continue
        quiet_until = timing.release_time(now, quiet_start=row.quiet_start, quiet_end=row.quiet_end)
        if quiet_until is not None:
            await _set(session, row.id, due_at=quiet_until)
            result.deferred += 1
            continue
        result.claimed.append(
            Claimed(
                row.id,
                row.notification_id,
                row.subscriber_id,
                row.chat_id,
                row.language,
                held,
                row.attempts,
            )
        )
    if inactive:
        await _set_many(session, inactive, state=DeliveryState.SKIPPED.value, error="inactive")
        result.skipped = len(inactive)
    if result.claimed:
        await _set_many(
            session,
            [c.delivery_id for c in result.claimed],
            state=DeliveryState.CLAIMED.value,
            claimed_by=worker,
        )
    return result


async def mark_sending(
    session: AsyncSession, delivery_ids: Sequence[int], *, worker: str | None = None
) -> set[int]:
    """Written (and committed) before the requests go out: the write-ahead record. With a
    `worker`, only rows it still holds (claimed by it, not recovered by another worker meanwhile)
    are marked; returns the ids marked, the only ones that may be sent."""
    if worker is None:
        await _set_many(session, list(delivery_ids), state=DeliveryState.SENDING.value)
        return set(delivery_ids)
    ids = list(delivery_ids)
    marked: set[int] = set()
    for start in range(0, len(ids), 500):
        result = await session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(ids[start : start + 500]),
                Delivery.claimed_by == worker,
                Delivery.state == DeliveryState.CLAIMED.value,
            )
            .values(state=DeliveryState.SENDING.value)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
        marked.update(result.scalars())
    return marked


async def _set(session: AsyncSession, delivery_id: int, **values) -> None:
    await session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


async def _set_many(session: AsyncSession, ids: Sequence[int], **values) -> None:
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await session.execute(update(Delivery).where(Delivery.id.in_(chunk)).values(**values))


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed delivery, to be recorded."""

    delivery_id: int
    state: DeliveryState
    attempts: int
    message_id: int | None = None
    error: str | None = None
    due_at: datetime | None = None


async def record(session: AsyncSession, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write outcomes in one executemany (a bulk UPDATE by primary key)."""
    if not outcomes:
        return
    rows = [
        {
            "id": outcome.delivery_id,
            "state": outcome.state.value,
            "attempts": outcome.attempts,
            "message_id": outcome.message_id,
            "error": outcome.error,
            "sent_at": now if outcome.state is DeliveryState.SENT else None,
            "due_at": outcome.due_at or now,
        }
        for outcome in outcomes
    ]
    await session.execute(update(Delivery), rows)


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the next waiting delivery (retry, quiet hours, digest) becomes due."""
    return await session.scalar(
        select(func.min(Delivery.due_at)).where(
            Delivery.state.in_([DeliveryState.PENDING.value, DeliveryState.HELD.value])
        )
    )


async def skip_pending_for(session: AsyncSession, subscriber_id: int, reason: str) -> int:
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.state.in_([DeliveryState.PENDING.value, DeliveryState.HELD.value]),
        )
        .values(state=DeliveryState.SKIPPED.value, error=reason)
    )
    return affected_rows(result) or 0


async def stats(session: AsyncSession, notification_id: int | None = None) -> dict[str, int]:
    """Deliveries by state, for one notification or all; "blocked" counts people, not
    deliveries (one who blocked the bot fails one delivery and has the others skipped)."""
    query = select(Delivery.state, func.count()).group_by(Delivery.state)
    if notification_id is not None:
        query = query.where(Delivery.notification_id == notification_id)
    counts = {state.value: 0 for state in DeliveryState}
    for state, count in (await session.execute(query)).all():
        counts[state] = count
    blocked = select(func.count(func.distinct(Delivery.subscriber_id))).where(
        Delivery.error == "blocked"
    )
    if notification_id is not None:
        blocked = blocked.where(Delivery.notification_id == notification_id)
    counts["blocked"] = await session.scalar(blocked) or 0
    return counts


async def backlog_size(session: AsyncSession) -> int:
    """Deliveries not yet sent: pending, held for a digest, or claimed."""
    waiting = [DeliveryState.PENDING.value, DeliveryState.HELD.value, DeliveryState.CLAIMED.value]
    query = select(func.count()).select_from(Delivery).where(Delivery.state.in_(waiting))
    return await session.scalar(query) or 0


async def recent_notifications(session: AsyncSession, limit: int = 5) -> list[Notification]:
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    return list(await session.scalars(query))


async def load_notifications(session: AsyncSession, ids: Iterable[int]) -> dict[int, Notification]:
    rows = await session.scalars(select(Notification).where(Notification.id.in_(set(ids))))
    return {notification.id: notification for notification in rows}
