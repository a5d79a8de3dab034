"""Delivery benchmark: the real sender against the Bot API stand-in (in another process).

    .venv/bin/python benchmarks/delivery.py [--sizes 10000 100000] [--limited-seconds 10]

For each audience size it prints: time to select the recipients (targeting, INSERT…SELECT),
messages/s with the limits off, the same recipients with a naive `await bot.send_message` loop,
and with the limits on (30/s and the stand-in enforcing Telegram's flood limits) the achieved
rate as a percentage of the configured one and the count of 429s. Peak memory at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_sender  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db import migrate  # noqa: E402
from bot.db.engine import Database  # noqa: E402
from bot.db.models import NotificationKind, Subscriber, Subscription, utcnow  # noqa: E402
from bot.delivery.sender import SenderConfig  # noqa: E402
from bot.services import outbox, plan  # noqa: E402
from bot.services.outbox import NewNotification  # noqa: E402

TOKEN = "123456789:BENCHMARK-token-local-sandbox-only"
FIRST_USER = 1_000_000


class SandboxProcess:
    def __init__(self, count: int, flood: float | None = None) -> None:
        args = [
            sys.executable,
            str(ROOT / "benchmarks" / "_sandbox_process.py"),
            str(FIRST_USER),
            str(count),
        ]
        if flood:
            args += ["--flood", str(flood)]
        self.process = subprocess.Popen(
            args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.base_url = self.process.stdout.readline().strip()

    def close(self) -> tuple[int, int]:
        self.process.stdin.close()
        rejected, accepted = map(int, self.process.stdout.readline().split())
        self.process.wait(timeout=30)
        return rejected, accepted


async def prepare(url: str, count: int) -> Database:
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    async with db.transaction() as session:
        await plan.seed_reference_data(session, plan.load_plan())
    now = utcnow()
    for start in range(0, count, 10_000):
        ids = range(FIRST_USER + start, FIRST_USER + min(count, start + 10_000))
        async with db.transaction() as session:
            await session.execute(
                insert(Subscriber),
                [
                    {
                        "id": i,
                        "telegram_user_id": i,
                        "chat_id": i,
                        "language": "it",
                        "active": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            await session.execute(
                insert(Subscription),
                [
                    {
                        "subscriber_id": i,
                        "target_kind": "zone",
                        "target_id": "genova",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
    return db


async def select_recipients(db: Database, key: str) -> tuple[int, float]:
    started = time.perf_counter()
    async with db.transaction() as session:
        notification, _ = await outbox.enqueue(
            session,
            NewNotification(
                kind=NotificationKind.BROADCAST,
                source_key=key,
                template="text",
                payload={"html": "<b>Metropoli Strategiche</b>: incontro pubblico a Genova"},
                tags=[("zone", "genova")],
            ),
        )
        created = await outbox.target(session, notification, utcnow())
    return created, time.perf_counter() - started


async def send(
    db: Database, base_url: str, config: SenderConfig, seconds: float | None
) -> tuple[int, float]:
    settings = Settings(telegram_bot_token=TOKEN, database_url=str(db.url))
    sender = build_sender(settings, db, base_url=base_url, config=config)
    async with sender.bot:
        started = time.perf_counter()
        sent = 0
        while True:
            handled = await sender.run_once()
            sent += handled
            elapsed = time.perf_counter() - started
            if handled == 0 or (seconds is not None and elapsed >= seconds):
                return sent, elapsed


async def naive_loop(base_url: str, count: int, seconds: float) -> tuple[int, float]:
    from telegram import Bot

    bot = Bot(TOKEN, base_url=base_url)
    async with bot:
        started = time.perf_counter()
        sent = 0
        for chat_id in range(FIRST_USER, FIRST_USER + count):
            await bot.send_message(
                chat_id, "<b>Metropoli Strategiche</b>: incontro pubblico", parse_mode="HTML"
            )
            sent += 1
            if time.perf_counter() - started >= seconds:
                break
        return sent, time.perf_counter() - started


async def run_size(count: int, limited_seconds: float, naive_seconds: float) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/bench.sqlite3"
        db = await prepare(url, count)
        print(f"\n== {count:,} subscribers (SQLite) ==")
        created, selection_s = await select_recipients(db, "unlimited")
        print(f"recipient selection      {selection_s * 1000:10.1f} ms for {created:,} deliveries")

        sandbox = SandboxProcess(count)
        unlimited = SenderConfig(
            messages_per_second=None, per_chat_interval_s=None, concurrency=32, batch_size=2000
        )
        sent, elapsed = await send(db, sandbox.base_url, unlimited, None)
        print(
            f"limits off (sender)      {sent / elapsed:10.0f} msg/s  ({sent:,} in {elapsed:.1f} s)"
        )
        naive_sent, naive_elapsed = await naive_loop(sandbox.base_url, count, naive_seconds)
        print(
            f"naive send_message loop  {naive_sent / naive_elapsed:10.0f} msg/s  "
            f"({naive_sent:,} in {naive_elapsed:.1f} s)"
        )
        sandbox.close()

        sandbox = SandboxProcess(count, flood=30)
        await select_recipients(db, "limited")
        sent, elapsed = await send(
            db, sandbox.base_url, SenderConfig(messages_per_second=30), limited_seconds
        )
        rejected, _accepted = sandbox.close()
        rate = sent / elapsed
        print(
            f"limits on (30 msg/s)     {rate:10.1f} msg/s = {rate / 30 * 100:.1f}% of the limit, "
            f"{rejected} × 429"
        )
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--limited-seconds", type=float, default=30.0)
    parser.add_argument("--naive-seconds", type=float, default=10.0)
    args = parser.parse_args()
    # tracemalloc would slow every allocation; peak memory is read from ru_maxrss instead.
    for size in args.sizes:
        await run_size(size, args.limited_seconds, args.naive_seconds)
    print(
        f"\npeak memory (max RSS of the bot process): "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB"
    )


if __name__ == "__main__":
    asyncio.run(main())
