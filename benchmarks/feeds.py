"""Benchmark of the feeds library: parsing throughput, poll cycles, memory.

    .venv/bin/python benchmarks/feeds.py [--feeds 200 --items 50]

Serves N generated feeds of M items each from a local aiohttp server (127.0.0.1 only, in a
child process so it does not share the CPU time of the measured process), then measures:
parse + identity + sanitize throughput; the wall time of a full poll cycle (fetch every
feed within the fetcher's concurrency limits, parse, sanitize); the same cycle when every
feed answers 304 Not Modified; peak memory. The server stops when the benchmark ends, and
on its own after a few minutes in any case.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import resource
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

# This script is itself named feeds.py: put the project first so `feeds` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feeds.fetch import FeedFetcher, FetchStatus
from feeds.parse import ParsedFeed, parse_feed, parse_feed_sync
from feeds.telegram_html import sanitize_html, truncate_html

HOST = "127.0.0.1"
SERVER_LIFETIME_S = 240
RUN_DEADLINE_S = 180
MEMORY_SAMPLE_FEEDS = 60
SITE = "https://www.cittametropolitana.genova.it/it/news"
COMUNI = ["Sestri Levante", "Sant'Olcese", "Chiavari", "Rapallo", "Recco", "Busalla", "Ne"]


# ------------------------------------------------------------------ generated feeds


def feed_document(feed: int, items: int) -> bytes:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    entries = "".join(_item(feed, n, start + timedelta(hours=n)) for n in range(items))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Feed {feed} – Città Metropolitana di Genova</title>"
        f"<link>{SITE}/{feed}</link><language>it</language>{entries}</channel></rss>"
    ).encode()


def _item(feed: int, n: int, published: datetime) -> str:
    comune = COMUNI[(feed + n) % len(COMUNI)]
    link = f"{SITE}/{feed}/{n}?utm_source=rss"
    description = (
        f"<p>Il <b>Piano Strategico Metropolitano</b> arriva a {comune}: incontro pubblico "
        f"con i cittadini&nbsp;e le associazioni. L&egrave; sessione n. {n} del percorso "
        f'partecipato. <a href="/it/psm/{n}">Programma</a></p>'
    )
    content = (
        f"<h2>Notizia {n}</h2>{description}"
        f'<p><img src="/img/{n}.jpg" alt="Foto dell\'incontro"> '
        "<script>track()</script><iframe src='https://video.example/x'></iframe></p>"
        "<ul><li>Mobilità sostenibile</li><li>Sviluppo economico<ul><li>Turismo</li>"
        "</ul></li><li>Ambiente</li></ul>"
        "<table><tr><td>Data</td><td>Luogo</td></tr><tr><td>12/03</td><td>Sala</td></tr></table>"
        + "<p>Testo di approfondimento sul percorso del piano e sulle sue strategie. </p>"
        * 6
    )
    return (
        f"<item><title>Notizia {n} del feed {feed}: il PSM a {comune}</title>"
        f"<link>{link}</link><guid>{SITE}/{feed}/{n}</guid>"
        f"<pubDate>{published.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
        f"<category>Piano Strategico</category>"
        f'<enclosure url="{SITE}/img/{n}.jpg" type="image/jpeg" length="1000"/>'
        f"<description><![CDATA[{description}]]></description>"
        f"<content:encoded><![CDATA[{content}]]></content:encoded></item>"
    )


# -------------------------------------------------------------------- the server


def serve(feeds: int, items: int, port_pipe) -> None:
    """Child process: serve /feed/{n} with an ETag, answer 304 to a matching request."""
    from aiohttp import web

    documents = [feed_document(feed, items) for feed in range(feeds)]

    async def handler(request: web.Request) -> web.Response:
        feed = int(request.match_info["feed"])
        etag = f'"feed-{feed}-v1"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=documents[feed],
            headers={"ETag": etag, "Content-Type": "application/rss+xml; charset=utf-8"},
        )

    async def run() -> None:
        app = web.Application()
        app.router.add_get("/feed/{feed}", handler)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0, backlog=1024)
        await site.start()
        port_pipe.send(site._server.sockets[0].getsockname()[1])
        try:
            await asyncio.sleep(SERVER_LIFETIME_S)  # stops by itself if the parent vanished
        finally:
            await runner.cleanup()

    asyncio.run(run())


# ------------------------------------------------------------------- measurements


def sanitize_entries(feed: ParsedFeed) -> int:
    """What the bot does with each new item: sanitize and fit into a caption."""
    characters = 0
    for entry in feed.entries:
        body = sanitize_html(entry.content_html or entry.summary_html, base_url=entry.base_url)
        characters += len(truncate_html(body, 1024, read_more_url=entry.link or SITE))
    return characters


def measure_parsing(documents: list[bytes]) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    for n, document in enumerate(documents):
        feed = parse_feed_sync(document, base_url=f"http://{HOST}/feed/{n}")
        sanitize_entries(feed)
        count += len(feed.entries)
    return count, time.perf_counter() - started


@dataclass
class Cycle:
    wall_s: float
    statuses: dict[str, int]
    items: int
    etags: list[str | None]


async def poll_cycle(
    base_url: str,
    feeds: int,
    *,
    etags: list[str | None] | None = None,
    per_host: int = 2,
    max_concurrency: int = 20,
) -> Cycle:
    # As a scheduler should: at most `max_concurrency` feeds fetched *or being processed*,
    # or fetched bodies pile up in memory while waiting for the CPU.
    in_process = asyncio.Semaphore(max_concurrency)

    async def poll(fetcher: FeedFetcher, n: int) -> tuple[FetchStatus, int, str | None]:
        async with in_process:
            etag = etags[n] if etags else None
            result = await fetcher.fetch(f"{base_url}/feed/{n}", etag=etag)
            if result.status is not FetchStatus.OK:
                return result.status, 0, result.etag
            feed = await parse_feed(
                result.content, base_url=result.final_url, content_type=result.content_type
            )
            await asyncio.to_thread(sanitize_entries, feed)
            return result.status, len(feed.entries), result.etag

    started = time.perf_counter()
    async with FeedFetcher(
        max_concurrency=max_concurrency, per_host_concurrency=per_host, timeout=60
    ) as fetcher:
        outcomes = await asyncio.gather(*(poll(fetcher, n) for n in range(feeds)))
    wall = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for status, _, _ in outcomes:
        statuses[status.name] = statuses.get(status.name, 0) + 1
    return Cycle(wall, statuses, sum(o[1] for o in outcomes), [o[2] for o in outcomes])


async def measure_cycles(base_url: str, feeds: int) -> list[tuple[str, Cycle]]:
    default = await poll_cycle(base_url, feeds)
    spread = await poll_cycle(base_url, feeds, per_host=20)
    not_modified = await poll_cycle(base_url, feeds, etags=default.etags)
    return [
        ("poll cycle, default limits (20 overall, 2 per host)", default),
        ("poll cycle, 20 per host (as if feeds were on many hosts)", spread),
        ("poll cycle, every feed answers 304", not_modified),
    ]


async def measure_peak_memory(base_url: str, feeds: int) -> int:
    """tracemalloc slows Python down several times, so this cycle polls a sample of the
    feeds: the peak depends on the feeds in flight at once (the concurrency), not on how
    many are polled in turn, since nothing is kept between feeds."""
    tracemalloc.start()
    try:
        await poll_cycle(base_url, feeds, per_host=20)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def measure_bot_cycles(base_url: str, feeds: int) -> list[tuple[str, str]]:
    """The bot's own poller: fetch, parse, dedupe, classify, one notification per item and
    the seen-item records, written to a SQLite database; then the same feeds again (304)."""
    import tempfile

    from bot.db import migrate
    from bot.db.engine import Database
    from bot.db.models import utcnow
    from bot.services import feed_registry, plan
    from bot.services.feed_poller import FeedPoller

    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/feeds.sqlite3"
        await asyncio.to_thread(migrate.upgrade, url)
        db = Database(url)
        ids = []
        async with db.transaction() as session:
            await plan.seed_reference_data(session, plan.load_plan())
            for n in range(feeds):
                spec = feed_registry.FeedSpec(url=f"{base_url}/feed/{n}", first_poll_backlog=1000)
                ids.append((await feed_registry.add_feed(session, spec, now=utcnow())).id)
        poller = FeedPoller(db)
        rows = []
        for label in ("first poll, every item notified", "second poll, every feed answers 304"):
            started = time.perf_counter()
            report = await poller.poll_feeds(ids)
            wall = time.perf_counter() - started
            notified = len(report.notification_ids)
            rows.append((f"bot poll cycle ({label})", f"{wall:.2f} s, {notified:,} notifications"))
        await db.dispose()
    return rows


# ----------------------------------------------------------------------- reporting


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")


def megabytes(size: float) -> str:
    return f"{size / 1_000_000:.1f} MB"


async def run(arguments: argparse.Namespace, base_url: str) -> None:
    documents = [feed_document(feed, arguments.items) for feed in range(arguments.feeds)]
    total_bytes = sum(len(document) for document in documents)
    print(
        f"psm-bot feeds benchmark: {arguments.feeds} feeds × {arguments.items} items, "
        f"{megabytes(total_bytes)} of XML; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; server at {base_url}"
    )
    items, seconds = measure_parsing(documents)
    del documents
    rows = [
        (
            "parse + identity + sanitize (1 thread)",
            f"{items / seconds:,.0f} items/s ({items:,} items in {seconds:.2f} s)",
        )
    ]
    for name, cycle in await measure_cycles(base_url, arguments.feeds):
        statuses = ", ".join(f"{count} {status}" for status, count in cycle.statuses.items())
        rows.append((name, f"{cycle.wall_s:.2f} s ({statuses}; {cycle.items:,} items)"))
    rows.extend(await measure_bot_cycles(base_url, arguments.feeds))
    sample = min(arguments.feeds, MEMORY_SAMPLE_FEEDS)
    peak = await measure_peak_memory(base_url, sample)
    rows.append((f"tracemalloc peak, cycle of {sample} feeds (20 per host)", megabytes(peak)))
    max_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows.append(("ru_maxrss of this process", megabytes(max_rss_kb * 1024)))
    print_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    arguments = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    server = context.Process(
        target=serve, args=(arguments.feeds, arguments.items, sender), daemon=True
    )
    server.start()
    # The deadline is not a cancellation: cancelling the bot's poll cycle mid-query made the
    # engine close its aiosqlite connections twice over (SQLAlchemy's shielded graceful close,
    # then its forced close once the cancellation reached it), and aiosqlite's close() then
    # awaits the stop of a worker thread that has already ended, so asyncio.run's cleanup
    # waited for it for good. Past the deadline the process stops instead.
    watchdog = threading.Timer(RUN_DEADLINE_S, _give_up, args=(server,))
    watchdog.daemon = True
    watchdog.start()
    try:
        if not receiver.poll(60):
            raise SystemExit("the feed server did not start")
        base_url = f"http://{HOST}:{receiver.recv()}"
        asyncio.run(run(arguments, base_url))
    finally:
        watchdog.cancel()
        server.terminate()
        server.join(5)


def _give_up(server) -> None:
    print(
        f"psm-bot feeds benchmark: not finished within {RUN_DEADLINE_S} s, stopped",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    server.terminate()
    server.join(5)
    os._exit(1)


if __name__ == "__main__":
    main()
