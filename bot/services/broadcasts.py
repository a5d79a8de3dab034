"""Staff broadcasts: audiences, recipient counts, scheduling and cancelling.

A broadcast is an ordinary notification (kind `broadcast`, template `text`); its source_key is
`broadcast:<draft token>`, so confirming the same draft twice enqueues it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Notification, NotificationKind, NotificationTag, TargetKind
from bot.services import outbox
from bot.services.event_input import local_time
from bot.services.events import EventError
from bot.services.outbox import NewNotification

SOURCE_PREFIX = "broadcast:"


class BroadcastError(ValueError):
    """A time or audience the staff typed that cannot be used."""


@dataclass
class Audience:
    """Who a broadcast is for: everyone, or followers of any of the chosen targets."""

    everyone: bool = False
    targets: set[tuple[str, str]] = field(default_factory=set)
    language: str | None = None

    def toggle(self, kind: TargetKind, target_id: str) -> None:
        self.targets ^= {(kind.value, target_id)}
        self.everyone = False

    def is_empty(self) -> bool:
        return not self.everyone and not self.targets


def source_key(token: str) -> str:
    return f"{SOURCE_PREFIX}{token}"


def new_broadcast(
    token: str, html: str, audience: Audience, not_before: datetime | None = None
) -> NewNotification:
    title = html.split("\n", 1)[0][:120]
    return NewNotification(
        kind=NotificationKind.BROADCAST,
        source_key=source_key(token),
        template="text",
        payload={"title": title, "html": html},
        tags=sorted(audience.targets),
        language=audience.language,
        everyone=audience.everyone,
        not_before=not_before,
    )


async def count_recipients(session: AsyncSession, audience: Audience) -> int:
    """How many active subscribers the broadcast would reach (outbox targeting rules)."""
    draft = Notification(
        language=audience.language,
        everyone=audience.everyone,
        tags=[NotificationTag(target_kind=k, target_id=i) for k, i in sorted(audience.targets)],
    )
    query = outbox.recipients_query(draft)
    if query is None:
        return 0
    return await session.scalar(select(func.count()).select_from(query.subquery())) or 0


async def find(session: AsyncSession, token: str) -> Notification | None:
    query = select(Notification).where(Notification.source_key == source_key(token))
    return await session.scalar(query)


async def enqueue(
    session: AsyncSession, token: str, html: str, audience: Audience, at: datetime | None = None
) -> tuple[Notification, bool]:
    return await outbox.enqueue(session, new_broadcast(token, html, audience, at))


async def scheduled(session: AsyncSession, now: datetime) -> list[Notification]:
    """Broadcasts due later and not yet targeted, soonest first."""
    query = (
        select(Notification)
        .where(
            Notification.kind == NotificationKind.BROADCAST.value,
            Notification.targeted_at.is_(None),
            Notification.not_before > now,
        )
        .order_by(Notification.not_before, Notification.id)
    )
    return list(await session.scalars(query))


async def cancel(session: AsyncSession, notification_id: int) -> bool:
    """Delete a scheduled broadcast that nobody has been targeted for yet."""
    result = await session.execute(
        delete(Notification).where(
            Notification.id == notification_id,
            Notification.kind == NotificationKind.BROADCAST.value,
            Notification.targeted_at.is_(None),
        )
    )
    return bool(result.rowcount)


def parse_time(text: str, now: datetime) -> datetime:
    """`2026-12-01 09:00` in Rome time → UTC; it must be in the future."""
    try:
        moment = local_time(text)
    except EventError as error:
        raise BroadcastError(str(error)) from None
    if moment <= now:
        raise BroadcastError(text)
    return moment
