"""Public pages benchmark: what rendering each page of "Il Piano in cifre" costs.

    .venv/bin/python benchmarks/site.py [--actions 500] [--runs 30]
        [--backends sqlite postgresql] [--postgres-url URL]

Seeds a fresh database (a SQLite file, and a PostgreSQL database created on the server of
--postgres-url and dropped afterwards) with the plan's reference data and --actions actions
over its five strategies and nine zones, each with two indicators and eight yearly
measurements, imported through the monitoring service as staff import them (so the plan's
changes are there), then a second import that changes the status of one action in five;
3,000 contributions to the participation record over two years and 60 events. Then, from a
warm database, it renders every page type `--runs` times (Italian and English in turn, a
different strategy, zone or action each time) through `bot.site.pages.render`, the function
the server and the static build call, and prints the median and spread of the render time
and the largest page of each type. Goal: under 50 ms a page, under 100 KB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics as stats_math
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import migrate  # noqa: E402
from bot.db.engine import Database, sync_url  # noqa: E402
from bot.db.models import Event, RecordEntry, RecordEntryTag, Zone  # noqa: E402
from bot.services import monitoring, plan  # noqa: E402
from bot.services.monitoring_sources import read_named  # noqa: E402
from bot.site.layout import PageKind, PageRef, SiteOptions  # noqa: E402
from bot.site.pages import render  # noqa: E402

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
STATUSES = ["planned", "in_progress", "in_progress", "delayed", "completed", "suspended"]
STRATEGIES = ["S1", "S2", "S3", "S4", "S5"]
YEARS = range(2019, 2027)
CONTRIBUTIONS = 3_000
EVENTS = 60
GOAL_MS, GOAL_KB = 50, 100


def dataset(count: int, zones: list[str], *, moved: bool = False) -> bytes:
    """The monitoring data of `count` actions as the JSON staff import (second version:
    one action in five has moved on)."""
    actions = []
    for number in range(count):
        strategy = STRATEGIES[number % len(STRATEGIES)]
        status = STATUSES[number % len(STATUSES)]
        progress = (number * 7) % 101
        if moved and number % 5 == 0:
            status, progress = "completed", 100
        actions.append(
            {
                "code": f"{strategy}.{number + 1}",
                "strategy": strategy,
                "title_it": f"Azione di prova numero {number + 1} per la strategia {strategy}",
                "title_en": f"Test action number {number + 1} for strategy {strategy}",
                "description_it": "Descrizione di prova. " * 8,
                "zones": [zones[(number + k) % len(zones)] for k in range(1 + number % 3)],
                "responsible": "Direzione di prova",
                "status": status,
                "progress": progress,
                "start": "2020-01-01",
                "end": "2027-12-31",
                "funding": {"source": "PNRR", "amount_eur": 100_000 + number},
                "indicators": [_indicator(number, which) for which in (1, 2)],
            }
        )
    return json.dumps({"sample": True, "actions": actions}).encode()


def _indicator(number: int, which: int) -> dict:
    return {
        "code": f"I{which}",
        "name_it": f"Indicatore {which}",
        "name_en": f"Indicator {which}",
        "unit": "unità",
        "baseline": 0,
        "baseline_year": 2019,
        "target": 100,
        "target_year": 2026,
        "measurements": [
            {"period": str(year), "value": (year - 2019) * (10 + number % 5)} for year in YEARS
        ],
    }


async def prepare(url: str, count: int) -> tuple[Database, list[str], list[str]]:
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    async with db.transaction() as session:
        await plan.seed_reference_data(session, plan.load_plan())
        zones = list(await session.scalars(select(Zone.id).order_by(Zone.position)))
    for moved, day in ((False, date(2025, 1, 10)), (True, date(2026, 3, 2))):
        records = read_named(dataset(count, zones, moved=moved), "bench.json")
        async with db.transaction() as session:
            await monitoring.import_records(session, records, today=day)
    codes = [f"{STRATEGIES[n % len(STRATEGIES)]}.{n + 1}" for n in range(count)]
    await _contributions(db, codes, zones)
    await _events(db, zones)
    return db, zones, codes


async def _contributions(db: Database, codes: list[str], zones: list[str]) -> None:
    now = datetime.now(UTC)
    entries, tags = [], []
    for number in range(1, CONTRIBUTIONS + 1):
        code = codes[number % len(codes)]
        entries.append(
            {
                "id": number,
                "reference": f"P-B-{number:05d}",
                "year": 2026,
                "sequence": number,
                "created_at": now - timedelta(hours=number * 5),
                "kind": ("reaction", "comment", "feedback")[number % 3],
                "hidden": False,
                "participant_zone": zones[number % len(zones)],
            }
        )
        tags += [
            {"entry_id": number, "target_kind": "action", "target_id": code},
            {"entry_id": number, "target_kind": "strategy", "target_id": code.split(".")[0]},
        ]
    async with db.transaction() as session:
        await session.execute(insert(RecordEntry), entries)
        await session.execute(insert(RecordEntryTag), tags)


async def _events(db: Database, zones: list[str]) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as session:
        session.add_all(
            Event(
                uid=f"bench-{number}@psm",
                title_it=f"Incontro di prova {number}",
                starts_at=now + timedelta(days=number * 7 - EVENTS * 3),
                zones=[zones[number % len(zones)]],
                strategies=[STRATEGIES[number % len(STRATEGIES)]],
                place="Sala del Consiglio",
            )
            for number in range(EVENTS)
        )


@asynccontextmanager
async def database(backend: str, postgres_url: str) -> AsyncIterator[str]:
    """A new, empty database for one run, gone afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/site.sqlite3"
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


def page_refs(kind: PageKind, runs: int, keys: list[str] | None) -> list[PageRef]:
    """`runs` addresses of one page type, Italian and English in turn, keys in rotation."""
    return [
        PageRef(kind, ("it", "en")[run % 2], keys[(run * 7) % len(keys)] if keys else None)
        for run in range(runs)
    ]


async def measure(db: Database, refs: list[PageRef], options: SiteOptions) -> tuple[list, int]:
    times, largest = [], 0
    await render(db, refs[0], options)  # warm: the statements prepared, the pages cached
    for ref in refs:
        started = time.perf_counter()
        page = await render(db, ref, options)
        times.append(time.perf_counter() - started)
        assert page is not None, ref
        largest = max(largest, len(page.body))
    return times, largest


def summary(label: str, seconds: list[float], size: int) -> str:
    ms = sorted(s * 1000 for s in seconds)
    median = stats_math.median(ms)
    verdict = "ok" if median < GOAL_MS and size < GOAL_KB * 1024 else "OVER GOAL"
    return (
        f"  {label:<10} median {median:7.1f} ms   spread {ms[0]:7.1f} – {ms[-1]:7.1f} ms  "
        f"(n={len(ms)})   largest {size / 1024:6.1f} KB   {verdict}"
    )


async def run(backend: str, count: int, args: argparse.Namespace) -> None:
    async with database(backend, args.postgres_url) as url:
        started = time.perf_counter()
        db, zones, codes = await prepare(url, count)
        print(
            f"\n== {backend}, {count:,} actions, {CONTRIBUTIONS:,} contributions, "
            f"{EVENTS} events (prepared in {time.perf_counter() - started:.1f} s) =="
        )
        options = SiteOptions(bot_username="psm_genova_bot")
        try:
            for label, kind, keys in (
                ("home", PageKind.HOME, None),
                ("strategy", PageKind.STRATEGY, STRATEGIES),
                ("zone", PageKind.ZONE, zones),
                ("action", PageKind.ACTION, codes),
                ("events", PageKind.EVENTS, None),
                ("data", PageKind.DATA, None),
                ("qr.svg", PageKind.QR, codes),
            ):
                times, size = await measure(db, page_refs(kind, args.runs, keys), options)
                print(summary(label, times, size))
        finally:
            await db.dispose()


def default_postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgresql:", "postgres:")) else DEFAULT_POSTGRES


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--actions", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--backends", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--postgres-url",
        default=default_postgres_url(),
        help="a server where a scratch database may be created (default: DATABASE_URL if it "
        f"is PostgreSQL, else {DEFAULT_POSTGRES})",
    )
    args = parser.parse_args()
    for backend in args.backends:
        await run(backend, args.actions, args)


if __name__ == "__main__":
    asyncio.run(main())
