"""What a contribution is about: a notification, a strategy, a zone, a comune, an action, the plan.

A subject is kind + id (actions arrive with the monitoring data and plug in here), with its
names and the tags the export filters on.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Comune,
    Delivery,
    Notification,
    PlanAction,
    Strategy,
    TargetKind,
    Zone,
)
from bot.i18n import N_, _, use_locale
from bot.labels import notification_title
from bot.services.plan import strategy_label

MAX_SUBJECT_ID = 255


class SubjectKind(enum.StrEnum):
    """Subjects chosen with /feedback; notification subjects use the notification's kind."""

    STRATEGY = "strategy"
    ZONE = "zone"
    COMUNE = "comune"
    ACTION = "action"
    PLAN = "plan"
    # Several notifications shown in one message (a digest or a grouped burst).
    DIGEST = "digest"


PLAN_ID = "PSM"


@dataclass(frozen=True)
class Subject:
    kind: str
    id: str
    name_it: str
    name_en: str
    tags: tuple[tuple[str, str], ...] = ()
    notification_id: int | None = None
    notification_kind: str | None = None
    delivery_id: int | None = None

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_it

    @property
    def record_label(self) -> str:
        """The label kept in the record: the office works in Italian."""
        return self.name_it[:300]


async def chosen(session: AsyncSession, kind: str, subject_id: str) -> Subject | None:
    """A subject picked with /feedback, or None when it does not exist (forged, removed)."""
    describe = _DESCRIBERS.get(kind)
    return await describe(session, subject_id) if describe else None


async def _strategy(session: AsyncSession, strategy_id: str) -> Subject | None:
    strategy = await session.get(Strategy, strategy_id)
    if strategy is None:
        return None
    return Subject(
        SubjectKind.STRATEGY,
        strategy.id,
        strategy_label(strategy, "it"),
        strategy_label(strategy, "en"),
        ((TargetKind.STRATEGY.value, strategy.id),),
    )


async def _zone(session: AsyncSession, zone_id: str) -> Subject | None:
    zone = await session.get(Zone, zone_id)
    if zone is None:
        return None
    return Subject(
        SubjectKind.ZONE, zone.id, zone.name, zone.name, ((TargetKind.ZONE.value, zone.id),)
    )


async def _comune(session: AsyncSession, istat: str) -> Subject | None:
    comune = await session.get(Comune, istat)
    if comune is None:
        return None
    tags = ((TargetKind.COMUNE.value, comune.istat), (TargetKind.ZONE.value, comune.zone_id))
    return Subject(SubjectKind.COMUNE, comune.istat, comune.name, comune.name, tags)


async def _action(session: AsyncSession, action_id: str) -> Subject | None:
    action = await session.get(PlanAction, action_id)
    if action is None:
        return None
    tags = [(TargetKind.ACTION.value, action.code), (TargetKind.STRATEGY.value, action.strategy_id)]
    tags += [(TargetKind.ZONE.value, zone_id) for zone_id in action.zone_ids or ()]
    tags += [(TargetKind.COMUNE.value, istat) for istat in action.comuni_istat or ()]
    return Subject(
        SubjectKind.ACTION,
        action.code,
        f"{action.code} · {action.title_it}",
        f"{action.code} · {action.title_en}",
        tuple(tags),
    )


def _translated(language: str, message: str, **values) -> str:
    with use_locale(language):
        return _(message).format(**values)


async def _plan(session: AsyncSession, plan_id: str) -> Subject | None:
    if plan_id != PLAN_ID:
        return None
    label = N_("The plan in general")
    return Subject(SubjectKind.PLAN, PLAN_ID, _translated("it", label), _translated("en", label))


_DESCRIBERS = {
    SubjectKind.STRATEGY.value: _strategy,
    SubjectKind.ZONE.value: _zone,
    SubjectKind.COMUNE.value: _comune,
    SubjectKind.ACTION.value: _action,
    SubjectKind.PLAN.value: _plan,
}


def _title(notification: Notification, language: str) -> str:
    return notification_title(notification, language) or f"{notification.kind} #{notification.id}"


def _tags_of(notifications: Sequence[Notification]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted({(tag.target_kind, tag.target_id) for n in notifications for tag in n.tags})
    )


def of_delivery(delivery: Delivery, notification: Notification) -> Subject:
    """A notification as the subject: its kind, id, title and tags."""
    return Subject(
        notification.kind,
        str(notification.id),
        _title(notification, "it"),
        _title(notification, "en"),
        _tags_of([notification]),
        notification_id=notification.id,
        notification_kind=notification.kind,
        delivery_id=delivery.id,
    )


def of_digest(notifications: Sequence[Notification]) -> Subject:
    """A reply to a message that showed several notifications: about all of them."""
    ids = ",".join(str(n.id) for n in notifications)[:MAX_SUBJECT_ID]

    def name(language: str) -> str:
        return _translated(
            language,
            N_("{count} updates: {titles}"),
            count=len(notifications),
            titles="; ".join(_title(n, language) for n in notifications),
        )

    return Subject(SubjectKind.DIGEST, ids, name("it"), name("en"), tags=_tags_of(notifications))


async def of_message(
    session: AsyncSession, subscriber_id: int, chat_id: int, message_id: int
) -> Subject | None:
    """The notification(s) this person received as this message, if any."""
    items = await items_of_message(session, subscriber_id, chat_id, message_id)
    if not items:
        return None
    if len(items) == 1:
        return of_delivery(*items[0])
    return of_digest(sorted((notification for _d, notification in items), key=_by_id))


async def items_of_message(
    session: AsyncSession, subscriber_id: int, chat_id: int, message_id: int
) -> list[tuple[Delivery, Notification]]:
    """(delivery, notification) shown to this person as this message, in delivery order
    (the order a grouped message numbers its items in)."""
    rows = await session.execute(
        select(Delivery, Notification)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(
            Delivery.chat_id == chat_id,
            Delivery.message_id == message_id,
            Delivery.subscriber_id == subscriber_id,
        )
        .order_by(Delivery.id)
    )
    return [(delivery, notification) for delivery, notification in rows.all()]


def _by_id(notification: Notification) -> int:
    return notification.id


async def of_owned_delivery(
    session: AsyncSession, subscriber_id: int, delivery_id: int
) -> Subject | None:
    """The notification of a delivery, only if the delivery was for this subscriber."""
    delivery = await owned_delivery(session, subscriber_id, delivery_id)
    return None if delivery is None else await of_delivery_row(session, delivery)


async def of_delivery_row(session: AsyncSession, delivery: Delivery) -> Subject:
    notification = await session.get_one(Notification, delivery.notification_id)
    return of_delivery(delivery, notification)


async def owned_delivery(
    session: AsyncSession, subscriber_id: int, delivery_id: int
) -> Delivery | None:
    return await session.scalar(
        select(Delivery).where(Delivery.id == delivery_id, Delivery.subscriber_id == subscriber_id)
    )
