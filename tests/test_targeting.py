"""Targeting without foreign keys on deliveries: what they guaranteed still holds.

A targeting holds its recipients' rows until it commits (as the foreign key check did, one row
at a time), so /forget, which deletes the subscriber and then their deliveries, never leaves a
delivery behind for someone it erased.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.db.models import Delivery, Notification, NotificationKind, TargetKind
from bot.services import outbox, privacy, subscriptions
from bot.services.outbox import NewNotification
from bot.services.subscriptions import Target

USER = 31


async def follower_and_news(db) -> int:
    async with db.transaction() as session:
        row, _ = await subscriptions.get_or_create_subscriber(
            session, telegram_user_id=USER, chat_id=USER, first_name="U", language="it"
        )
        await subscriptions.subscribe(session, row, Target(TargetKind.ZONE, "genova"))
        notification, _ = await outbox.enqueue(
            session,
            NewNotification(
                kind=NotificationKind.BROADCAST,
                source_key="news",
                template="text",
                payload={"html": "x"},
                tags=[("zone", "genova")],
            ),
        )
        return notification.id


async def target(db, notification_id: int) -> int:
    async with db.transaction() as session:
        notification = await session.get_one(Notification, notification_id)
        return await outbox.target(session, notification, datetime.now(UTC))


async def forget(db) -> None:
    async with db.transaction() as session:
        subscriber = await subscriptions.get_subscriber(session, USER)
        assert subscriber is not None
        await privacy.forget(session, subscriber)


async def deliveries(db) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Delivery)) or 0


async def test_forget_erases_the_deliveries(db):
    notification_id = await follower_and_news(db)
    assert await target(db, notification_id) == 1
    await forget(db)
    assert await deliveries(db) == 0


async def test_a_forget_during_a_targeting_waits_for_it_and_erases_its_delivery(backend, db):
    if backend != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    notification_id = await follower_and_news(db)
    async with db.transaction() as session:
        notification = await session.get_one(Notification, notification_id)
        assert await outbox.target(session, notification, datetime.now(UTC)) == 1
        forgetting = asyncio.create_task(forget(db))
        await asyncio.sleep(0.5)
        assert not forgetting.done()  # the recipient's row is held until the commit
    await asyncio.wait_for(forgetting, 30)
    assert await deliveries(db) == 0


async def test_a_targeting_during_a_forget_waits_for_it_and_skips_the_erased(backend, db):
    if backend != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    notification_id = await follower_and_news(db)
    async with db.transaction() as session:
        subscriber = await subscriptions.get_subscriber(session, USER)
        assert subscriber is not None
        await privacy.forget(session, subscriber)
        targeting = asyncio.create_task(target(db, notification_id))
        await asyncio.sleep(0.5)
        assert not targeting.done()  # the row being deleted cannot be held
    assert await asyncio.wait_for(targeting, 30) == 0
    assert await deliveries(db) == 0
