"""Staff tools benchmark: what the /broadcast wizard and /stats cost on a large audience.

    .venv/bin/python benchmarks/staff.py [--sizes 10000 100000] [--database-url URL]

For each size (subscribers spread over the 67 comuni and 9 zones, one in five with a declared
stakeholder category, one join/leave row each plus one departure in ten) it prints the time of
a recipient count for typical audiences (the wizard counts on every press), of drawing one
audience page, and of computing the /stats figures and charts. SQLite file by default.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import migrate  # noqa: E402
from bot.db.engine import Database  # noqa: E402
from bot.db.models import (  # noqa: E402
    AudienceChange,
    Comune,
    Participant,
    Subscriber,
    Subscription,
    utcnow,
)
from bot.i18n import use_locale  # noqa: E402
from bot.screens import broadcast as broadcast_screens  # noqa: E402
from bot.screens import charts as stats_charts  # noqa: E402
from bot.services import broadcasts, plan, statistics  # noqa: E402
from bot.services.broadcasts import CATEGORIES, Audience  # noqa: E402

BATCH = 10_000


async def prepare(url: str, count: int) -> tuple[Database, list[str]]:
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    async with db.transaction() as session:
        await plan.seed_reference_data(session, plan.load_plan())
        comuni = list(await session.execute(select(Comune.istat, Comune.zone_id)))
    now = utcnow()
    for start in range(0, count, BATCH):
        ids = range(start + 1, min(count, start + BATCH) + 1)
        async with db.transaction() as session:
            await session.execute(insert(Subscriber), [_subscriber(i, now) for i in ids])
            await session.execute(insert(Subscription), [_follows(i, comuni, now) for i in ids])
            await session.execute(
                insert(Participant),
                [
                    {"subscriber_id": i, "pseudonym": f"u-{i}", "category": _category(i)}
                    for i in ids
                    if i % 5 == 0
                ],
            )
            await session.execute(insert(AudienceChange), _history(ids, now))
    return db, [istat for istat, _zone in comuni[:5]]


def _subscriber(i: int, now) -> dict:
    return {
        "id": i,
        "telegram_user_id": i,
        "chat_id": i,
        "language": "en" if i % 7 == 0 else "it",
        "active": i % 10 != 0,
        "created_at": now,
        "updated_at": now,
    }


def _follows(i: int, comuni: list, now) -> dict:
    istat, zone = comuni[i % len(comuni)]
    kind, target = ("zone", zone) if i % 2 else ("comune", istat)
    return {"subscriber_id": i, "target_kind": kind, "target_id": target, "created_at": now}


def _category(i: int) -> str:
    return CATEGORIES[(i // 5) % len(CATEGORIES)]


def _history(ids: range, now) -> list[dict]:
    """Joins spread over two years, a departure for one subscriber in ten."""
    rows = []
    for i in ids:
        joined = now - timedelta(minutes=(i * 7919) % (730 * 24 * 60))
        rows.append({"occurred_at": joined, "delta": 1, "reason": "joined"})
        if i % 10 == 0:
            rows.append(
                {"occurred_at": joined + timedelta(days=3), "delta": -1, "reason": "blocked"}
            )
    return rows


async def timed(label: str, work, repeat: int = 5):
    started = time.perf_counter()
    for _ in range(repeat):
        result = await work()
    elapsed = (time.perf_counter() - started) / repeat
    print(f"{label:<46} {elapsed * 1000:9.1f} ms  {result if isinstance(result, int) else ''}")
    return result


async def run_size(url: str, count: int) -> None:
    print(f"\n=== {count:,} subscribers ===")
    db, five_comuni = await prepare(url, count)
    audiences = {
        "count: everyone": Audience(everyone=True),
        "count: one zone (Genova)": Audience(targets={("zone", "genova")}),
        "count: five comuni": Audience(targets={("comune", c) for c in five_comuni}),
        "count: category comune (alone)": Audience(categories={"comune"}),
        "count: zone Tigullio + 2 categories, English": Audience(
            targets={("zone", "tigullio")}, categories={"comune", "business"}, language="en"
        ),
    }
    for label, audience in audiences.items():

        async def count_of(audience=audience):
            async with db.transaction() as session:
                return await broadcasts.count_recipients(session, audience)

        await timed(label, count_of)

    async def audience_page():
        async with db.transaction() as session:
            draft = await broadcasts.start_draft(session, 1, utcnow())
            broadcasts.set_audience(draft, audiences["count: five comuni"])
            with use_locale("it"):
                await broadcast_screens.audience_page(session, draft, "pc", "genova")
            await broadcasts.drop_draft(session, 1)
        return 0

    await timed("audience page (comuni of Genova, with count)", audience_page)

    async def figures():
        async with db.transaction() as session:
            return await statistics.compute(session)

    stats = await timed("/stats figures (statistics.compute)", figures, repeat=3)

    async def charts():
        with use_locale("it"):
            return len(await asyncio.to_thread(stats_charts.draw, stats))

    await timed("/stats charts (6 PNG)", charts, repeat=1)
    await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    args = parser.parse_args()
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            url = args.database_url or f"sqlite:///{folder}/staff-benchmark.sqlite3"
            await run_size(url, size)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (max RSS): {peak:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
