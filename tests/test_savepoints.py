"""A savepoint that reads and then writes is not refused because another connection committed
in between. On SQLite a read snapshot can never become a write once another connection has
committed ("database is locked" at once, as a staff upload met while the sender heartbeat)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.db.engine import savepoint
from bot.db.models import Worker, utcnow


async def test_a_savepoint_writes_after_another_connection_wrote(db):
    async def elsewhere() -> None:  # e.g. the sender's heartbeat meanwhile
        async with db.transaction() as other:
            other.add(Worker(id="elsewhere", started_at=utcnow(), heartbeat_at=utcnow()))

    async with db.transaction() as session, await savepoint(session):
        await session.scalar(select(func.count()).select_from(Worker))
        other = asyncio.create_task(elsewhere())
        await asyncio.wait([other], timeout=1.0)  # it commits now, or waits for us
        session.add(Worker(id="importing", started_at=utcnow(), heartbeat_at=utcnow()))
        await session.flush()
    await other
    async with db.transaction() as session:
        assert set(await session.scalars(select(Worker.id))) == {"elsewhere", "importing"}
