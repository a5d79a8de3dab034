"""A savepoint that reads and then writes is not refused because another connection committed
in between. On SQLite a read snapshot can never become a write once another connection has
committed ("database is locked" at once, as a staff upload met while the sender heartbeat)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from bot.db.engine import savepoint
from bot.db.models import Strategy


async def test_a_savepoint_writes_after_another_connection_wrote(db):
    async def elsewhere(strategy_id: str) -> None:  # e.g. the sender's heartbeat meanwhile
        async with db.transaction() as other:
            await other.execute(
                update(Strategy).where(Strategy.id == strategy_id).values(uncertain=True)
            )

    async with db.transaction() as session, await savepoint(session):
        first, second = list(await session.scalars(select(Strategy).limit(2)))
        other = asyncio.create_task(elsewhere(second.id))
        await asyncio.wait([other], timeout=1.0)  # it commits now, or waits for us
        await session.execute(
            update(Strategy).where(Strategy.id == first.id).values(uncertain=True)
        )
    await other
    async with db.transaction() as session:
        assert (await session.get(Strategy, first.id)).uncertain is True
        assert (await session.get(Strategy, second.id)).uncertain is True
