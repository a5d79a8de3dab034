"""The database goes away in the middle of a broadcast and comes back: the running worker
hands back what it held and finishes by itself, nobody twice, nothing stuck."""

from __future__ import annotations

import asyncio
import signal

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.db.models import Delivery, DeliveryState
from tests.conftest import eventually
from tests.processes import TcpProxy, start_worker
from tests.test_workers import subscribe_and_broadcast

RECIPIENTS = 600
RATE = 50  # messages per second: the outage lands mid-broadcast
OUTAGE_S = 8
DONE = {DeliveryState.SENT.value, DeliveryState.IN_DOUBT.value}


async def test_database_outage_mid_broadcast(backend, database_url, db, sandbox):
    if backend != "postgresql":
        pytest.skip("a file database does not go away; the outage is a cut network link")
    users = range(7_000_000, 7_000_000 + RECIPIENTS)
    for user_id in users:
        sandbox.user(user_id, language_code="it")
    await subscribe_and_broadcast(db, users, "outage")
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port)
    worker = await start_worker(through_proxy.render_as_string(hide_password=False), sandbox, RATE)
    try:
        assert await eventually(lambda: _sent_at_least(sandbox, RECIPIENTS // 4), timeout=60)
        await proxy.stop()
        await asyncio.sleep(OUTAGE_S)
        assert worker.returncode is None
        stopped_at = sandbox.count("sendMessage")
        await proxy.start()
        assert await eventually(lambda: _all_done(db), timeout=120), await _states(db)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(worker.communicate(), timeout=60)
        await proxy.stop()
    log = errors.decode()
    assert worker.returncode == 0, log
    assert stopped_at < RECIPIENTS  # the outage really was mid-broadcast
    assert log.count("database unavailable, delivery waits for it") == 1, log
    assert "delivery round failed" not in log, log

    received = {user: len(sandbox.user(user).bot_messages) for user in users}
    assert max(received.values()) == 1, "somebody got the broadcast twice"
    async with db.transaction() as session:
        in_doubt = set(
            await session.scalars(
                select(Delivery.chat_id).where(Delivery.state == DeliveryState.IN_DOUBT)
            )
        )
    assert {user for user, count in received.items() if count == 0} <= in_doubt
    assert len(in_doubt) <= 8  # at most the window in flight when the link was cut


async def _sent_at_least(sandbox, count: int) -> bool:
    return sandbox.count("sendMessage") >= count


async def _states(db) -> dict[str, int]:
    async with db.transaction() as session:
        query = select(Delivery.state, func.count()).group_by(Delivery.state)
        return dict((await session.execute(query)).all())


async def _all_done(db) -> bool:
    states = await _states(db)
    return sum(states.values()) == RECIPIENTS and set(states) <= DONE
