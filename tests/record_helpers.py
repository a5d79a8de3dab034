"""Helpers for the participation record tests: subscribers, delivered notifications, entries."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import build_sender
from bot.db.models import (
    Delivery,
    NotificationKind,
    Participant,
    RecordEntry,
    Subscriber,
    TargetKind,
)
from bot.delivery.sender import SenderConfig
from bot.services import outbox, subscriptions
from bot.services.outbox import NewNotification
from bot.services.subscriptions import Target

FAST = SenderConfig(messages_per_second=None, per_chat_interval_s=None, idle_sleep_s=0.05)
GENOVA = (TargetKind.ZONE, "genova")
TIGULLIO = (TargetKind.ZONE, "tigullio")
S4 = (TargetKind.STRATEGY, "S4")


async def follower(db, sandbox, user_id: int, *follows, language: str = "it", name: str = "Anna"):
    """A sandbox user who follows these targets (subscribed directly, no chat needed)."""
    user = sandbox.user(user_id, first_name=name, language_code=language)
    async with db.transaction() as session:
        row, _ = await subscriptions.get_or_create_subscriber(
            session, telegram_user_id=user_id, chat_id=user_id, first_name=name, language=language
        )
        for kind, target_id in follows:
            await subscriptions.subscribe(session, row, Target(kind, target_id))
    return user


def news(key: str, *tags, title: str = "Nuovo bando per il Tigullio") -> NewNotification:
    return NewNotification(
        kind=NotificationKind.NEWS,
        source_key=key,
        template="news",
        payload={
            "title": {"it": title, "en": "EN " + title},
            "html": "<p>Il bando è <b>aperto</b>.</p>",
            "link": "https://pianostrategico.cittametropolitana.genova.it/node/1",
        },
        tags=tags,
    )


async def deliver(settings, db, sandbox, *items: NewNotification) -> list[int]:
    """Enqueue and send: the notifications arrive in the followers' chats with their buttons."""
    ids = []
    async with db.transaction() as session:
        for item in items:
            notification, _ = await outbox.enqueue(session, item)
            ids.append(notification.id)
    sender = build_sender(
        settings, db, base_url=sandbox.base_url, base_file_url=sandbox.base_file_url, config=FAST
    )
    async with sender.bot:
        await sender.run_until_idle(wait_s=2.0)
    return ids


async def entries(db) -> list[RecordEntry]:
    async with db.transaction() as session:
        return list(await session.scalars(select(RecordEntry).order_by(RecordEntry.id)))


async def participant(db, user_id: int) -> Participant | None:
    async with db.transaction() as session:
        return await session.scalar(
            select(Participant)
            .join(Subscriber, Subscriber.id == Participant.subscriber_id)
            .where(Subscriber.telegram_user_id == user_id)
        )


async def subscriber_row(db, user_id: int) -> Subscriber | None:
    async with db.transaction() as session:
        return await subscriptions.get_subscriber(session, user_id)


async def delivery_of(db, user_id: int) -> Delivery:
    async with db.transaction() as session:
        return await session.scalar(select(Delivery).where(Delivery.chat_id == user_id))


async def consenting(user) -> None:
    """The user agrees to the record through /privacy."""
    await user.send("/privacy")
    await user.press(user.last_bot_message.labels[0])
