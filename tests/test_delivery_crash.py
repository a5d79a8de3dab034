"""kill -9 in the middle of a broadcast, then start again: nobody gets it twice, nothing stays
pending, and the only deliveries not confirmed are the few in flight at the kill (in doubt)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from sqlalchemy import select

from bot.db.models import Delivery, DeliveryState, NotificationKind, TargetKind
from bot.services import outbox, subscriptions
from bot.services.outbox import NewNotification
from bot.services.subscriptions import Target
from tests.processes import start_deliver

ROOT = Path(__file__).resolve().parent.parent
RECIPIENTS = 240
RATE = 80  # messages per second: the kill lands mid-broadcast


async def test_kill_minus_9_mid_broadcast_then_restart(database_url, db, sandbox, monkeypatch):
    # The window: at most 8 requests out, and 8 outcomes unwritten, whatever the round trips.
    monkeypatch.setenv("DELIVERY_MAX_IN_FLIGHT", "8")
    async with db.transaction() as session:
        for user_id in range(10_000, 10_000 + RECIPIENTS):
            sandbox.user(user_id, first_name="Citizen", language_code="it")
            row, _ = await subscriptions.get_or_create_subscriber(
                session,
                telegram_user_id=user_id,
                chat_id=user_id,
                first_name="Citizen",
                language="it",
            )
            await subscriptions.subscribe(session, row, Target(TargetKind.ZONE, "genova"))
        await outbox.enqueue(
            session,
            NewNotification(
                kind=NotificationKind.BROADCAST,
                source_key="crash-test",
                template="text",
                payload={"html": "Convocazione: incontro pubblico sul Piano"},
                tags=[("zone", "genova")],
            ),
        )

    first = await start_deliver(database_url, sandbox, RATE)
    while sandbox.count("sendMessage") < RECIPIENTS // 3:
        await asyncio.sleep(0.01)
        assert first.returncode is None, (await first.stderr.read()).decode()
    first.send_signal(signal.SIGKILL)
    await first.communicate()  # reads its stderr to the end, so the pipe is closed here
    sent_before_restart = sandbox.count("sendMessage")
    assert sent_before_restart < RECIPIENTS  # the kill really was mid-broadcast

    second = await start_deliver(database_url, sandbox, RATE)
    _, errors = await asyncio.wait_for(second.communicate(), timeout=60)
    assert second.returncode == 0, errors.decode()

    async with db.transaction() as session:
        rows = list(await session.scalars(select(Delivery)))
    by_state: dict[str, list[Delivery]] = {}
    for row in rows:
        by_state.setdefault(row.state, []).append(row)
    received = {
        user_id: len(sandbox.user(user_id).bot_messages)
        for user_id in range(10_000, 10_000 + RECIPIENTS)
    }
    assert len(rows) == RECIPIENTS
    assert max(received.values()) == 1, "somebody got the broadcast twice"
    assert set(by_state) <= {DeliveryState.SENT, DeliveryState.IN_DOUBT}, "something left pending"
    for row in by_state[DeliveryState.SENT]:
        assert received[row.chat_id] == 1
        assert sandbox.user(row.chat_id).last_bot_message.message_id == row.message_id
    in_doubt = by_state.get(DeliveryState.IN_DOUBT, [])
    # Only what was in flight or not yet recorded at the kill: concurrency + rate × interval.
    assert len(in_doubt) <= 8 + RATE * 0.1 + 20
    not_received = [user for user, count in received.items() if count == 0]
    assert set(not_received) <= {row.chat_id for row in in_doubt}
