"""Several senders on one database: no row sent twice, the overall rate shared."""

from __future__ import annotations

import asyncio
import gc
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from bot.db.models import Delivery, DeliveryState, NotificationKind, Subscriber, Subscription
from bot.delivery.sender import dead_local_workers
from bot.services import outbox, workers
from bot.services.outbox import NewNotification
from tests.processes import start_deliver

ROOT = Path(__file__).resolve().parent.parent


async def test_recovery_leaves_a_live_workers_rows_alone(db):
    now = datetime.now(UTC)
    async with db.transaction() as session:
        await workers.heartbeat(session, "alive", now)
        await workers.heartbeat(session, "gone", now - timedelta(minutes=5))
        for user_id in (1, 2):
            session.add(
                Subscriber(id=user_id, telegram_user_id=user_id, chat_id=user_id, language="it")
            )
        notification, _ = await outbox.enqueue(
            session,
            NewNotification(
                kind=NotificationKind.BROADCAST,
                source_key="k",
                template="text",
                payload={"html": "x"},
                everyone=True,
            ),
        )
        await session.flush()
        session.add_all(
            [
                Delivery(
                    notification_id=notification.id,
                    subscriber_id=1,
                    chat_id=1,
                    state=DeliveryState.SENDING.value,
                    claimed_by="alive",
                ),
                Delivery(
                    notification_id=notification.id,
                    subscriber_id=2,
                    chat_id=2,
                    state=DeliveryState.SENDING.value,
                    claimed_by="gone",
                ),
            ]
        )
    async with db.transaction() as session:
        assert await workers.recover_abandoned(session, now) == (0, 1)
        states = dict((await session.execute(select(Delivery.claimed_by, Delivery.state))).all())
        assert states == {"alive": "sending", "gone": "in_doubt"}
        assert await workers.list_ids(session) == ["alive"]


def test_workers_of_this_machine_whose_process_is_gone_are_known_dead():
    import socket

    host = socket.gethostname()[:30]
    assert dead_local_workers(
        [f"{host}:{os.getpid()}:abc", f"{host}:999999999:abc", "elsewhere:1:x"]
    ) == [f"{host}:999999999:abc"]


RECIPIENTS = 10_000
TELEGRAM_LIMIT = 1000  # what the stand-in enforces, like Telegram's paid broadcasts
# The two workers share this rate. The stand-in runs in this test's event loop and counts
# arrivals when it gets to them, so a loaded machine bunches them: 5% headroom absorbs that.
TOTAL_RATE = 950


async def test_two_workers_share_a_10000_recipient_broadcast(backend, database_url, db, sandbox):
    if backend != "postgresql":
        pytest.skip("several senders need PostgreSQL (row locks with SKIP LOCKED)")
    first_user = 5_000_000
    for user_id in range(first_user, first_user + RECIPIENTS):
        sandbox.user(user_id, language_code="it")
    sandbox.set_flood_limits(global_per_second=TELEGRAM_LIMIT, per_chat_per_second=1)
    gc.collect()
    gc.freeze()  # 10,000 users' objects: no full collection stalls the stand-in meanwhile
    async with db.transaction() as session:
        rows = range(first_user, first_user + RECIPIENTS)
        await session.execute(
            insert(Subscriber),
            [
                {"id": i, "telegram_user_id": i, "chat_id": i, "language": "it", "active": True}
                for i in rows
            ],
        )
        await session.execute(
            insert(Subscription),
            [{"subscriber_id": i, "target_kind": "zone", "target_id": "genova"} for i in rows],
        )
        await outbox.enqueue(
            session,
            NewNotification(
                kind=NotificationKind.BROADCAST,
                source_key="two-workers",
                template="text",
                payload={"html": "Metropoli Strategiche: incontro pubblico"},
                tags=[("zone", "genova")],
                with_feedback=False,
            ),
        )
    try:
        processes = [await start_deliver(database_url, sandbox, TOTAL_RATE) for _ in range(2)]
        for process in processes:
            _, errors = await asyncio.wait_for(process.communicate(), timeout=120)
            assert process.returncode == 0, errors.decode()
    finally:
        gc.unfreeze()

    assert sandbox.count("sendMessage", ok=False) == 0  # the two together stayed within the limit
    assert sandbox.count("sendMessage", ok=True) == RECIPIENTS
    async with db.transaction() as session:
        by_worker = dict(
            (
                await session.execute(
                    select(Delivery.claimed_by, func.count()).group_by(Delivery.claimed_by)
                )
            ).all()
        )
        states = set(await session.scalars(select(Delivery.state).distinct()))
    assert states == {DeliveryState.SENT}
    assert len(by_worker) == 2 and min(by_worker.values()) > RECIPIENTS // 10  # both worked
    received = [
        len(sandbox.user(u).bot_messages) for u in range(first_user, first_user + RECIPIENTS)
    ]
    assert set(received) == {1}  # nobody twice, nobody left out
