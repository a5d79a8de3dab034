"""Webhook benchmark: updates per second handled by the bot in webhook mode, with latency.

    .venv/bin/python benchmarks/webhook.py [--updates 2000] [--concurrency 32]

The bot runs as its own process (`python -m bot run --webhook --web-only`, SQLite); the Bot
API stand-in and the load generator run here. Each update is a /help from a different user,
posted to the webhook with the secret token; latency is from the POST to the bot's reply
arriving at the stand-in. Prints updates/s and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.sandbox import BotApiSandbox  # noqa: E402

TOKEN = "123456789:BENCHMARK-token-local-sandbox-only"
SECRET = "benchmark-secret"
FIRST_USER = 2_000_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def update(n: int) -> dict:
    user = {"id": FIRST_USER + n, "is_bot": False, "first_name": "Citizen", "language_code": "it"}
    return {
        "update_id": n + 1,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": FIRST_USER + n, "type": "private", "first_name": "Citizen"},
            "from": user,
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


async def start_bot(sandbox: BotApiSandbox, workdir: str, port: int, rate: int):
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": sandbox.base_url,
        "DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3",
        "WEBHOOK_URL": f"http://127.0.0.1:{port}",
        "WEBHOOK_SECRET": SECRET,
        "PORT": str(port),
        "LISTEN": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        # Replies count against Telegram's overall budget (30/s by default); the benchmark
        # lifts it to measure the bot itself.
        "DELIVERY_RATE": str(rate),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--webhook", "--web-only", cwd=ROOT, env=env
    )
    async with aiohttp.ClientSession() as client:
        for _ in range(300):
            try:
                async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the bot did not start")


async def load(
    port: int, count: int, concurrency: int, first: int = 0, rate: float | None = None
) -> dict[int, float]:
    """Post updates first..first+count; at `rate` per second if given, else as fast as possible."""
    posted: dict[int, float] = {}
    start = time.perf_counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(first, first + count):
        queue.put_nowait(n)
    url = f"http://127.0.0.1:{port}/telegram"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def worker(client: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            if rate:
                await asyncio.sleep(max(0.0, start + (n - first) / rate - time.perf_counter()))
            posted[FIRST_USER + n] = time.time()
            async with client.post(url, json=update(n), headers=headers) as response:
                assert response.status == 200, response.status

    async with aiohttp.ClientSession() as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return posted


def reply_time(sandbox: BotApiSandbox, user_id: int) -> float:
    """When the bot's first reply reached the stand-in (from the chat's event history)."""
    return next(e.timestamp for e in sandbox.user(user_id).transcript if e.kind == "bot_message")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=int, default=1000, help="DELIVERY_RATE of the bot")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        async with BotApiSandbox(token=TOKEN, bot_username="psm_bench_bot") as sandbox:
            for n in range(2 * args.updates):
                sandbox.user(FIRST_USER + n, first_name="Citizen", language_code="it")
            bot = await start_bot(sandbox, workdir, port, args.rate)
            try:
                started = time.perf_counter()
                posted = await load(port, args.updates, args.concurrency)
                accepted_s = time.perf_counter() - started
                await sandbox.wait_until(
                    lambda: sandbox.count("sendMessage", ok=True) >= args.updates, timeout=600
                )
                handled_s = time.perf_counter() - started
                throughput = args.updates / handled_s
                # Latency at half the measured capacity: the bot keeps up, nothing queues.
                paced = await load(
                    port, args.updates, args.concurrency, first=args.updates, rate=throughput / 2
                )
                await sandbox.wait_until(
                    lambda: sandbox.count("sendMessage", ok=True) >= 2 * args.updates, timeout=600
                )
            finally:
                bot.terminate()
                await bot.wait()
            burst = sorted(reply_time(sandbox, user) - at for user, at in posted.items())
            latencies = sorted(reply_time(sandbox, user) - at for user, at in paced.items())
    q = statistics.quantiles(latencies, n=100)
    print(
        f"updates: {args.updates}, webhook concurrency {args.concurrency}, "
        f"bot's overall send rate {args.rate}/s"
    )
    print(f"webhook accepted     {args.updates / accepted_s:8.0f} updates/s")
    print(f"handled and answered {args.updates / handled_s:8.0f} updates/s")
    print(f"burst: last reply {burst[-1]:.1f} s after its update (all posted at once)")
    print(
        f"at {throughput / 2:.0f} updates/s, latency update → reply: p50 {q[49] * 1000:.0f} ms, "
        f"p90 {q[89] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
