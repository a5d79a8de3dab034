"""Sender processes sharing one database: liveness by heartbeat, and their share of the rate.

A worker owns the deliveries it claimed while its heartbeat is fresh; a stopped or crashed
worker's rows are recovered by whoever notices (claimed → pending, sending → in doubt).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Delivery, DeliveryState, Worker

STALE_AFTER = timedelta(seconds=30)


async def heartbeat(session: AsyncSession, worker_id: str, now: datetime) -> int:
    """Record that this worker is alive; returns how many workers are alive (itself included)."""
    updated = await session.execute(
        update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now)
    )
    if not updated.rowcount:
        session.add(Worker(id=worker_id, started_at=now, heartbeat_at=now))
        await session.flush()
    live = select(func.count()).select_from(Worker).where(Worker.heartbeat_at > now - STALE_AFTER)
    return await session.scalar(live) or 1


async def list_ids(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(Worker.id)))


async def forget(session: AsyncSession, worker_ids: list[str]) -> None:
    """Workers known to be gone (their process no longer exists)."""
    if worker_ids:
        await session.execute(delete(Worker).where(Worker.id.in_(worker_ids)))


async def unregister(session: AsyncSession, worker_id: str) -> None:
    await session.execute(delete(Worker).where(Worker.id == worker_id))


async def recover_abandoned(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """Rows of workers that are gone: claimed → pending (safe), sending → in doubt.

    In-doubt rows are not sent again (a duplicate is worse than a visible gap); they are
    counted in the stats. Returns (returned to pending, in doubt).
    """
    live = select(Worker.id).where(Worker.heartbeat_at > now - STALE_AFTER)
    abandoned = Delivery.claimed_by.is_(None) | Delivery.claimed_by.not_in(live)
    returned = await session.execute(
        update(Delivery)
        .where(Delivery.state == DeliveryState.CLAIMED.value, abandoned)
        .values(state=DeliveryState.PENDING.value, claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    in_doubt = await session.execute(
        update(Delivery)
        .where(Delivery.state == DeliveryState.SENDING.value, abandoned)
        .values(state=DeliveryState.IN_DOUBT.value, error="sender stopped mid-send")
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(Worker).where(Worker.heartbeat_at <= now - STALE_AFTER))
    return returned.rowcount or 0, in_doubt.rowcount or 0


async def release(session: AsyncSession, worker_id: str, delivery_ids: list[int]) -> None:
    """A stopping worker hands back what it claimed but did not attempt."""
    for start in range(0, len(delivery_ids), 500):
        await session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(delivery_ids[start : start + 500]),
                Delivery.claimed_by == worker_id,
                Delivery.state == DeliveryState.CLAIMED.value,
            )
            .values(state=DeliveryState.PENDING.value, claimed_by=None)
        )
