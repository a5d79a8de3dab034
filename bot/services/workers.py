"""Sender processes sharing one database: liveness by heartbeat, their share of the rate, and
the pauses Telegram asks for.

A worker owns the deliveries it claimed while its heartbeat is fresh; it heartbeats every
HEARTBEAT_EVERY, also while it waits (a retry_after, the rate limiter, a slow answer), so a
live worker is never taken for a stopped one. A stopped or crashed worker's rows are recovered
by whoever notices (claimed → pending, sending → in doubt); a worker only sends rows that are
still its own (`outbox.mark_sending`), so rows recovered meanwhile are never sent twice.
A 429's pause is recorded here (`delivery_pauses`) and every worker honours it before each send.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import affected_rows, dialect_name
from bot.db.models import Delivery, DeliveryPause, DeliveryState, Worker

STALE_AFTER = timedelta(seconds=30)
# Well inside STALE_AFTER: a database outage of 20 s does not make a live worker look stopped.
HEARTBEAT_EVERY = timedelta(seconds=5)
PAUSE_SCOPE = "all"


def new_worker_id() -> str:
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _host() -> str:
    return socket.gethostname()[:30]


def dead_local_workers(worker_ids: list[str]) -> list[str]:
    """Workers of this machine whose process is gone: no need to wait for their heartbeat."""
    dead = []
    for worker_id in worker_ids:
        host, _, rest = worker_id.partition(":")
        pid = rest.partition(":")[0]
        if host == _host() and pid.isdigit() and not _process_exists(int(pid)):
            dead.append(worker_id)
    return dead


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def heartbeat(session: AsyncSession, worker_id: str, now: datetime) -> int:
    """Record that this worker is alive; returns how many workers are alive (itself included)."""
    updated = await session.execute(
        update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now)
    )
    if not affected_rows(updated):
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
    return affected_rows(returned), affected_rows(in_doubt)


async def release(session: AsyncSession, worker_id: str, delivery_ids: list[int]) -> None:
    """A worker hands back what it claimed but did not attempt (stopping, or rows of a job that
    another worker took over)."""
    for start in range(0, len(delivery_ids), 500):
        await session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(delivery_ids[start : start + 500]),
                Delivery.claimed_by == worker_id,
                Delivery.state.in_([DeliveryState.CLAIMED.value, DeliveryState.SENDING.value]),
            )
            .values(state=DeliveryState.PENDING.value, claimed_by=None)
        )


async def hand_back(
    session: AsyncSession, worker_id: str, attempted: Collection[int]
) -> tuple[int, int]:
    """After a failed round (a database outage): this worker's rows go back to pending, except
    those whose request went out without a recorded answer (`attempted`), which are in doubt.
    Returns (returned to pending, in doubt)."""
    mine = (
        Delivery.claimed_by == worker_id,
        Delivery.state.in_([DeliveryState.CLAIMED.value, DeliveryState.SENDING.value]),
    )
    in_doubt = 0
    attempted = list(attempted)
    for start in range(0, len(attempted), 500):
        result = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(attempted[start : start + 500]), *mine)
            .values(state=DeliveryState.IN_DOUBT.value, error="sender stopped mid-send")
            .execution_options(synchronize_session=False)
        )
        in_doubt += affected_rows(result)
    returned = await session.execute(
        update(Delivery)
        .where(*mine)
        .values(state=DeliveryState.PENDING.value, claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    return affected_rows(returned), in_doubt


async def pause_all(session: AsyncSession, until: datetime) -> None:
    """Telegram asked for a pause: no worker sends before `until` (a longer pause wins)."""
    dialect = dialect_name(session)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(DeliveryPause)
        .values(scope=PAUSE_SCOPE, paused_until=until)
        .on_conflict_do_nothing(index_elements=["scope"])
    )
    await session.execute(
        update(DeliveryPause)
        .where(DeliveryPause.scope == PAUSE_SCOPE, DeliveryPause.paused_until < until)
        .values(paused_until=until)
    )


async def paused_until(session: AsyncSession) -> datetime | None:
    return await session.scalar(
        select(DeliveryPause.paused_until).where(DeliveryPause.scope == PAUSE_SCOPE)
    )
