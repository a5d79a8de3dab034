"""Recipient selection (outbox.target) and the /stats figures, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/targeting.py [--sizes 10000 100000] [--runs 5]
        [--backends sqlite postgresql] [--postgres-url URL] [--explain | --explain-full]

For each backend and audience size it builds a fresh database (a SQLite file, or a new
PostgreSQL database on the server of --postgres-url, dropped afterwards) with that many
subscribers following zones, comuni and strategies in realistic proportions and a two-year
join/leave history, then times, over --runs runs each, the INSERT…SELECT that creates one
delivery per recipient (commit included) for a zone's news, a strategy's news and a broadcast
to everyone, and statistics.compute (the /stats figures). It prints the median and the spread
(min–max) of the runs. With --explain, PostgreSQL also prints a summary of EXPLAIN (ANALYZE,
BUFFERS, WAL) of each INSERT…SELECT, run in a transaction that is rolled back: the plan's nodes
with their times, what the insert read and wrote, the foreign key triggers, planning and
execution time (--explain-full: the whole plan).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics as stats_math
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, delete, event, insert, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import migrate  # noqa: E402
from bot.db.engine import Database, sync_url  # noqa: E402
from bot.db.models import (  # noqa: E402
    AudienceChange,
    Delivery,
    NotificationKind,
    Subscriber,
    Subscription,
    utcnow,
)
from bot.services import outbox, plan, statistics  # noqa: E402
from bot.services.outbox import NewNotification  # noqa: E402

BATCH = 10_000
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

AUDIENCES: dict[str, dict] = {
    "zone (genova)": {"tags": [("zone", "genova")]},
    "strategy (S2)": {"tags": [("strategy", "S2")]},
    "everyone": {"everyone": True},
}


# --- the data -------------------------------------------------------------------------------


def _weighted(items: list[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [key for key, _weight in items], [weight for _key, weight in items]


def population() -> dict:
    """Who lives where: comuni and zones weighted by population (Genova city is most of it)."""
    data = plan.load_plan()
    comuni = [(c["istat"], c.get("population") or 1000) for c in data.comuni]
    by_zone: dict[str, int] = {}
    for comune in data.comuni:
        by_zone[comune["zone"]] = by_zone.get(comune["zone"], 0) + (
            comune.get("population") or 1000
        )
    return {
        "comuni": _weighted(comuni),
        "zones": _weighted(sorted(by_zone.items())),
        "strategies": [s["id"] for s in data.strategies],
    }


def follows(rng: random.Random, where: dict) -> set[tuple[str, str]]:
    """One subscriber's subscriptions: most follow their zone or their comune (some both),
    two in five one or two strategies, a few nothing (they only get broadcasts)."""
    chosen: set[tuple[str, str]] = set()
    place = rng.random()
    if place < 0.55:
        chosen.add(("zone", rng.choices(*where["zones"])[0]))
    if 0.45 <= place < 0.85:
        chosen.add(("comune", rng.choices(*where["comuni"])[0]))
    if rng.random() < 0.4:
        for strategy in rng.sample(where["strategies"], rng.choice((1, 1, 2))):
            chosen.add(("strategy", strategy))
    return chosen


def history(i: int, now: datetime) -> list[dict]:
    """Joins spread over two years, a departure for one subscriber in ten (as staff.py)."""
    joined = now - timedelta(minutes=(i * 7919) % (730 * 24 * 60))
    rows = [{"occurred_at": joined, "delta": 1, "reason": "joined"}]
    if i % 10 == 0:
        rows.append({"occurred_at": joined + timedelta(days=3), "delta": -1, "reason": "blocked"})
    return rows


async def prepare(url: str, count: int) -> Database:
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    async with db.transaction() as session:
        await plan.seed_reference_data(session, plan.load_plan())
    rng, where, now = random.Random(count), population(), utcnow()
    for start in range(0, count, BATCH):
        ids = range(start + 1, min(count, start + BATCH) + 1)
        subscribers, subscriptions, changes = [], [], []
        for i in ids:
            subscribers.append(
                {
                    "id": i,
                    "telegram_user_id": 1_000_000 + i,
                    "chat_id": 1_000_000 + i,
                    "language": "en" if i % 7 == 0 else "it",
                    "active": i % 20 != 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            subscriptions += [
                {"subscriber_id": i, "target_kind": kind, "target_id": target, "created_at": now}
                for kind, target in sorted(follows(rng, where))
            ]
            changes += history(i, now)
        async with db.transaction() as session:
            await session.execute(insert(Subscriber), subscribers)
            await session.execute(insert(Subscription), subscriptions)
            await session.execute(insert(AudienceChange), changes)
    if not db.is_sqlite:
        # Visibility map and planner statistics as autovacuum keeps them (the test server may
        # run without it). The bot never runs ANALYZE on SQLite, so neither does this.
        await maintenance(db, "VACUUM ANALYZE")
    return db


async def maintenance(db: Database, sql: str) -> None:
    async with db.engine.connect() as connection:
        if db.is_sqlite:
            await connection.execute(text(sql))
            await connection.commit()
        else:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(sql))


@asynccontextmanager
async def database(backend: str, postgres_url: str) -> AsyncIterator[str]:
    """A new, empty database for one run, gone afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/targeting.sqlite3"
        return
    name = f"psm_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(sync_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- the measurements -----------------------------------------------------------------------


async def new_notification(db: Database, key: str, audience: dict) -> int:
    async with db.transaction() as session:
        notification, _ = await outbox.enqueue(
            session,
            NewNotification(
                kind=NotificationKind.BROADCAST,
                source_key=key,
                template="text",
                payload={"html": "<b>Metropoli Strategiche</b>: incontro pubblico a Genova"},
                **audience,
            ),
        )
        return notification.id


async def select_recipients(db: Database, notification_id: int) -> tuple[int, float]:
    """outbox.target in its own transaction, commit included."""
    started = time.perf_counter()
    async with db.transaction() as session:
        notification = await session.get(outbox.Notification, notification_id)
        assert notification is not None
        created = await outbox.target(session, notification, utcnow())
    return created, time.perf_counter() - started


async def forget_deliveries(db: Database, notification_id: int) -> None:
    """Back to the same starting point for the next run (not timed)."""
    async with db.transaction() as session:
        await session.execute(delete(Delivery).where(Delivery.notification_id == notification_id))
    await maintenance(db, "VACUUM" if db.is_sqlite else "VACUUM deliveries")


@contextmanager
def explained(db: Database, plans: list[list[str]]) -> Iterator[None]:
    """Run the deliveries' INSERT…SELECT under EXPLAIN (ANALYZE, BUFFERS, WAL), keeping the
    plan."""

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO DELIVERIES"):
            statement = "EXPLAIN (ANALYZE, BUFFERS, WAL) " + statement
        return statement, parameters

    def after(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("EXPLAIN"):
            plans.append([row[0] for row in cursor.fetchall()])

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before, retval=True)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


class Rollback(Exception):
    pass


async def explain(db: Database, notification_id: int) -> list[str]:
    plans: list[list[str]] = []
    try:
        async with db.transaction() as session:
            notification = await session.get(outbox.Notification, notification_id)
            assert notification is not None
            with explained(db, plans):
                await outbox.target(session, notification, utcnow())
            raise Rollback
    except Rollback:
        pass
    return plans[0] if plans else ["(no INSERT INTO deliveries was run)"]


SUMMARY_STARTS = ("Tuples Inserted", "Conflicting", "Trigger ", "Planning Time", "Execution Time")


def plan_summary(plan: list[str]) -> list[str]:
    """The nodes (with their actual times), the insert's buffers and WAL, the triggers, the
    times; conditions, filters and the buffers of every node left out."""
    kept, top_node_io = [], 0
    for line in plan:
        text = line.strip()
        if "actual time=" in line or text.startswith(SUMMARY_STARTS):
            kept.append(line)
        elif text.startswith(("Buffers:", "WAL:")) and top_node_io < 2:
            kept.append(line)  # the Insert node's: what the whole statement read and wrote
            top_node_io += 1
    return kept


async def repeat(runs: int, work: Callable[[], Awaitable[float]]) -> list[float]:
    return [await work() for _ in range(runs)]


def summary(label: str, seconds: list[float], note: str = "") -> str:
    ms = sorted(s * 1000 for s in seconds)
    return (
        f"  {label:<28} median {stats_math.median(ms):8.1f} ms   "
        f"spread {ms[0]:8.1f} – {ms[-1]:8.1f} ms  (n={len(ms)}){note}"
    )


async def run(backend: str, count: int, args: argparse.Namespace) -> None:
    async with database(backend, args.postgres_url) as url:
        started = time.perf_counter()
        db = await prepare(url, count)
        print(
            f"\n== {backend}, {count:,} subscribers "
            f"(prepared in {time.perf_counter() - started:.1f} s) =="
        )
        try:
            for label, audience in AUDIENCES.items():
                created_counts: set[int] = set()

                async def once(audience=audience, created_counts=created_counts) -> float:
                    notification_id = await new_notification(db, uuid.uuid4().hex, audience)
                    created, seconds = await select_recipients(db, notification_id)
                    created_counts.add(created)
                    await forget_deliveries(db, notification_id)
                    return seconds

                times = await repeat(args.runs, once)
                recipients = ", ".join(f"{c:,}" for c in sorted(created_counts))
                print(summary(f"select: {label}", times, f"  {recipients} deliveries"))
                if (args.explain or args.explain_full) and backend == "postgresql":
                    notification_id = await new_notification(db, uuid.uuid4().hex, audience)
                    plan = await explain(db, notification_id)
                    for line in plan if args.explain_full else plan_summary(plan):
                        print(f"      {line}")

            async def figures() -> float:
                started = time.perf_counter()
                async with db.transaction() as session:
                    await statistics.compute(session)
                return time.perf_counter() - started

            print(summary("/stats figures", await repeat(args.runs, figures)))
        finally:
            await db.dispose()


def default_postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgresql:", "postgres:")) else DEFAULT_POSTGRES


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--backends", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--postgres-url",
        default=default_postgres_url(),
        help="a server where a scratch database may be created (default: DATABASE_URL if it "
        f"is PostgreSQL, else {DEFAULT_POSTGRES})",
    )
    parser.add_argument("--explain", action="store_true", help="PostgreSQL: a summary of each plan")
    parser.add_argument("--explain-full", action="store_true", help="PostgreSQL: the plans")
    args = parser.parse_args()
    for size in args.sizes:
        for backend in args.backends:
            await run(backend, size, args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (max RSS of this process): {peak:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
