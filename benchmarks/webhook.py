"""Webhook benchmark: people pressing 👍 on a broadcast while it is being sent.

    .venv/bin/python benchmarks/webhook.py [--users 500] [--latency-ms 50] [--jitter-ms 0]
        [--repeat 3] [--busy 0]

The bot runs as its own process, as deployed: `python -m bot run --webhook` (webhook, and its
own sender), SQLite, DELIVERY_RATE=30 (Telegram's real limit). Telegram's side runs in a
process of its own (benchmarks/_webhook_sandbox_process.py): the Bot API stand-in, answering
after a round trip of --latency-ms (± --jitter-ms / 2) with the flood limits on (30 messages
a second overall, one a second per chat). The people run here: a broadcast to all of them is
enqueued through `python -m bot broadcast`, and as soon as the broadcast reaches someone,
they press its 👍 (the stand-in records the callback query and hands over the update, which
is posted to the webhook).

For each press: the time from its POST to the stand-in receiving the answerCallbackQuery
(the toast); how many were answered. The messages that follow a press (the consent question,
the first time) share the 30/s with the broadcast and go before it: the rate of all messages
(broadcast and follow-ups, measured from their arrivals as benchmarks/delivery.py does), the
delay from a press to its follow-up, 429s and early sends. Each repetition has a fresh
database, bot process and stand-in; figures are the median and the spread (min–max). With
--busy N, N processes keep a core busy each meanwhile (a loaded machine).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # after the project: `feeds` is the package

from _webhook_sandbox_process import BROADCAST_TEXT  # noqa: E402
from delivery import (  # noqa: E402
    BUSY_HELP,
    busy_processes,
    by_limit,
    describe_load,
    load_average,
    stand_in_command,
    steady_rate,
)

from bot.db import migrate  # noqa: E402
from bot.db.engine import Database  # noqa: E402
from bot.db.models import Subscriber, utcnow  # noqa: E402
from bot.services import plan  # noqa: E402
from bot.web import WEBHOOK_PATH  # noqa: E402

TOKEN = "123456789:BENCHMARK-token-local-sandbox-only"
SECRET = "benchmark-secret"
FIRST_USER = 2_000_000
CEILING = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def prepare(url: str, users: int) -> None:
    """The schema, the plan, and `users` subscribers who have written to the bot."""
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    try:
        async with db.transaction() as session:
            await plan.seed_reference_data(session, plan.load_plan())
            now = utcnow()
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
                    for i in range(FIRST_USER, FIRST_USER + users)
                ],
            )
    finally:
        await db.dispose()


def bot_environment(base_url: str, database_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": base_url,
        "DATABASE_URL": database_url,
        "WEBHOOK_URL": f"http://127.0.0.1:{port}",
        "WEBHOOK_SECRET": SECRET,
        "PORT": str(port),
        "LISTEN": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DELIVERY_RATE": str(CEILING),
    }


async def start_bot(
    env: dict[str, str], port: int, log_path: Path, profile: str | None = None
) -> asyncio.subprocess.Process:
    """`python -m bot run --webhook`: updates by webhook, and the sender in the same process
    (under cProfile, its statistics written to `profile` when it stops, if given)."""
    profiling = ["-m", "cProfile", "-o", profile] if profile else []
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *profiling,
            "-m",
            "bot",
            "run",
            "--webhook",
            cwd=ROOT,
            env=env,
            stderr=log,
        )
    async with aiohttp.ClientSession() as client:
        for _ in range(600):
            try:
                async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientConnectionError:
                pass
            if process.returncode is not None:
                break
            await asyncio.sleep(0.1)
    process.terminate()
    await process.wait()
    raise RuntimeError(f"the bot did not start:\n{log_path.read_text(errors='replace')}")


async def broadcast(env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "broadcast",
        "--text",
        f"<b>{BROADCAST_TEXT}</b>: incontro pubblico a Genova, giovedì alle 18",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"`bot broadcast` failed:\n{errors.decode(errors='replace')}")


class StandInProcess:
    """benchmarks/_webhook_sandbox_process.py: the stand-in on the other core, which turns
    each broadcast reaching someone into their press (an update for the webhook)."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self.presses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reading = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, users: int, latency_ms: float, jitter_ms: float) -> StandInProcess:
        process = await asyncio.create_subprocess_exec(
            *stand_in_command(
                "_webhook_sandbox_process.py",
                range(FIRST_USER, FIRST_USER + users),
                ceiling=CEILING,
                latency_ms=latency_ms,
                jitter_ms=jitter_ms,
            ),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,  # the summary is one long line
        )
        assert process.stdout is not None
        base_url = (await process.stdout.readline()).decode().strip()
        if not base_url:
            await process.wait()
            raise RuntimeError("the stand-in did not start")
        return cls(process, base_url)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            if "press" in message:
                self.presses.put_nowait(message["press"])
            else:
                self._answers.put_nowait(message)

    async def wait_idle(self, settle: float, timeout: float) -> None:
        await self._ask(f"idle {settle} {timeout}\n")
        if not (await self._answers.get())["idle"]:
            raise TimeoutError(f"the bot did not become idle within {timeout} s")

    async def close(self) -> dict[str, Any]:
        """What the stand-in saw (its `summary`)."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        answer = await self._answers.get()
        await self.process.wait()
        return answer["summary"]

    async def _ask(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode())
        await self.process.stdin.drain()

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self._reading.cancel()


@dataclass
class People:
    """The users: each press the stand-in reports is posted to the webhook, after think_s."""

    webhook_url: str
    think_s: float = 0.0  # from receiving the broadcast to pressing
    posted_at: dict[str, float] = field(default_factory=dict)  # callback query id → time
    pressed_chat: dict[str, int] = field(default_factory=dict)  # callback query id → chat
    failed_posts: int = 0
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def run(self, presses: asyncio.Queue[dict[str, Any]], count: int) -> None:
        """Post the first `count` presses, each as soon as it comes (after think_s)."""
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as client:
            posting = []
            for _ in range(count):
                update = {"update_id": next(self._update_ids), **await presses.get()}
                posting.append(asyncio.create_task(self.press(client, update)))
            await asyncio.gather(*posting)

    async def press(self, client: aiohttp.ClientSession, update: dict[str, Any]) -> None:
        if self.think_s:
            await asyncio.sleep(self.think_s)
        query = update["callback_query"]
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        self.pressed_chat[query["id"]] = query["message"]["chat"]["id"]
        self.posted_at[query["id"]] = time.time()
        try:
            async with client.post(self.webhook_url, json=update, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    self.failed_posts += 1
        except aiohttp.ClientError:
            self.failed_posts += 1


@dataclass
class Run:
    users: int
    answered: int
    toast_s: list[float]  # press POST → answerCallbackQuery at the stand-in
    message_rate: float  # every message (broadcast and follow-ups), from their arrivals
    broadcast_sent: int
    follow_ups: int
    follow_up_s: list[float]  # press POST → the first message after it in that chat
    broadcast_s: float  # first to last broadcast message
    rejected: int
    rejected_broadcast: int  # of which on the broadcast (the others on follow-ups)
    early_sends: int
    refusals: dict[str, int]  # the 429s by the limit they enforced
    failed_posts: int
    bot_log: list[str]


def measure(seen: dict[str, Any], people: People, users: int, bot_log: list[str]) -> Run:
    """The figures of one run from what the stand-in saw (`seen`) and the people did."""
    answered_at = seen["answered"]
    toasts = sorted(
        answered_at[query] - posted
        for query, posted in people.posted_at.items()
        if query in answered_at
    )
    broadcast = {tuple(message) for message in seen["broadcast"]}
    broadcast_at = []
    follow_ups: dict[int, list[float]] = {}
    for at, chat, message_id in seen["messages"]:
        if (chat, message_id) in broadcast:
            broadcast_at.append(at)
        else:
            follow_ups.setdefault(chat, []).append(at)
    follow_up_s = []
    for query, posted in people.posted_at.items():
        later = [at for at in follow_ups.get(people.pressed_chat[query], []) if at >= posted]
        if later:
            follow_up_s.append(min(later) - posted)
    return Run(
        users=users,
        answered=len(toasts),
        toast_s=toasts,
        message_rate=steady_rate([at for at, _, _ in seen["messages"]], CEILING),
        broadcast_sent=len(broadcast_at),
        follow_ups=sum(len(times) for times in follow_ups.values()),
        follow_up_s=sorted(follow_up_s),
        broadcast_s=max(broadcast_at) - min(broadcast_at) if broadcast_at else 0.0,
        rejected=seen["rejected"],
        rejected_broadcast=seen["rejected_broadcast"],
        early_sends=seen["early_sends"],
        refusals=seen["refusals"],
        failed_posts=people.failed_posts,
        bot_log=bot_log,
    )


async def one_run(args: argparse.Namespace, repetition: int) -> Run:
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        database_url = f"sqlite:///{workdir}/bench.sqlite3"
        await prepare(database_url, args.users)
        stand_in = await StandInProcess.start(args.users, args.latency_ms, args.jitter_ms)
        try:
            env = bot_environment(stand_in.base_url, database_url, port)
            log_path = Path(workdir) / "bot.log"
            bot = await start_bot(env, port, log_path, args.profile_bot)
            people = People(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", args.think_ms / 1000)
            try:
                pressing = asyncio.create_task(people.run(stand_in.presses, args.users))
                await broadcast(env)
                await asyncio.wait_for(pressing, args.timeout)
                # Then the answers and the follow-ups: done once nothing came for 3 s.
                await stand_in.wait_idle(settle=3.0, timeout=args.timeout)
            finally:
                bot.terminate()
                await bot.wait()
            seen = await stand_in.close()
            if args.dump:
                args.dump.mkdir(parents=True, exist_ok=True)
                (args.dump / f"run-{repetition + 1}.json").write_text(json.dumps(seen))
        finally:
            await stand_in.kill()
        log = log_path.read_text(errors="replace").splitlines()
        return measure(seen, people, args.users, log)


# ------------------------------------------------------------------------ reporting


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(share * (len(values) - 1)))]


def spread(values: list[float], fmt: str, unit: str = "") -> str:
    median = statistics.median(values)
    return f"{median:{fmt}}{unit} ({min(values):{fmt}}–{max(values):{fmt}})"


def report(runs: list[Run]) -> None:
    def ms(values: list[float]) -> str:
        return spread([v * 1000 for v in values], ".0f", " ms")

    def row(name: str, value: str) -> None:
        print(f"  {name:44} {value}")

    first = runs[0]
    print(f"\n{len(runs)} runs, median (min–max):")
    row("presses answered", spread([r.answered / r.users * 100 for r in runs], ".1f", " %"))
    for label, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)):
        row(
            f"toast (POST → answerCallbackQuery) {label}",
            ms([percentile(r.toast_s, share) for r in runs]),
        )
    rates = [r.message_rate for r in runs]
    row("messages/s (broadcast + follow-ups)", spread(rates, ".1f"))
    row("  of Telegram's ceiling (30/s)", spread([x / CEILING * 100 for x in rates], ".1f", " %"))
    row(
        "broadcast messages sent",
        spread([r.broadcast_sent for r in runs], ".0f", f" of {first.users}"),
    )
    row("broadcast, first to last", spread([r.broadcast_s for r in runs], ".1f", " s"))
    row("follow-up messages (consent question…)", spread([r.follow_ups for r in runs], ".0f"))
    row("press → its follow-up p50", ms([percentile(r.follow_up_s, 0.5) for r in runs]))
    row("press → its follow-up p99", ms([percentile(r.follow_up_s, 0.99) for r in runs]))
    row("429s", spread([r.rejected for r in runs], ".0f"))
    row("  of which on the broadcast", spread([r.rejected_broadcast for r in runs], ".0f"))
    row("  by limit, all runs", by_limit(r.refusals for r in runs) or "none")
    row("early sends", spread([r.early_sends for r in runs], ".0f"))
    row("webhook POSTs refused or failed", spread([r.failed_posts for r in runs], ".0f"))
    lines = Counter(_shape(line) for r in runs for line in r.bot_log)
    row("bot's log (WARNING and above), lines", f"{sum(lines.values())}")
    for line, count in lines.most_common(4):
        print(f"    {count:5} × {line[:140]}")

    p99 = statistics.median(percentile(r.toast_s, 0.99) for r in runs)
    every = all(r.answered == r.users for r in runs)
    at_ceiling = statistics.median(rates) >= 0.97 * CEILING
    clean = all(r.rejected == 0 and r.early_sends == 0 for r in runs)
    print("\ngoals")
    for ok, text in (
        (every and p99 < 1.0, "every press answered, toast p99 < 1 s"),
        (at_ceiling, "messages at the ceiling (≥ 97 % of 30/s)"),
        (clean, "0 × 429, 0 early sends"),
    ):
        print(f"  {'met    ' if ok else 'NOT MET'}  {text}")


def _shape(line: str) -> str:
    """A log line without its timestamp and numbers, to count lines alike."""
    return re.sub(r"\d+", "N", line.split(" ", 2)[-1] if line[:4].isdigit() else line)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--think-ms", type=float, default=0.0, help="from receiving the broadcast to pressing"
    )
    parser.add_argument(
        "--profile-bot", metavar="FILE", help="run the bot under cProfile, its stats to FILE"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds, per wait")
    parser.add_argument(
        "--dump", metavar="DIR", type=Path, help="what the stand-in saw, one JSON file per run"
    )
    parser.add_argument("--busy", type=int, default=0, help=BUSY_HELP)
    args = parser.parse_args()
    print(
        f"psm-bot webhook benchmark: {args.users} people press 👍 on a broadcast as it reaches "
        f"them (after {args.think_ms:g} ms); bot `run --webhook`, SQLite, "
        f"DELIVERY_RATE={CEILING:g}; round trip {args.latency_ms:g} ms ± {args.jitter_ms / 2:g}, "
        "flood limits on (30/s, 1/s per chat); "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(describe_load(args.busy))
    with busy_processes(args.busy):
        runs = await run_all(args)
    report(runs)
    print(f"\nload average at the end: {load_average()}")


async def run_all(args: argparse.Namespace) -> list[Run]:
    runs = []
    for repetition in range(args.repeat):
        run = await one_run(args, repetition)
        runs.append(run)
        print(
            f"run {repetition + 1}: {run.answered}/{run.users} answered, toast p99 "
            f"{percentile(run.toast_s, 0.99) * 1000:.0f} ms, {run.message_rate:.1f} msg/s, "
            f"{run.follow_ups} follow-ups, {run.rejected} × 429 "
            f"({by_limit([run.refusals]) or '-'}); "
            f"load average {load_average()}",
            flush=True,
        )
    return runs


if __name__ == "__main__":
    asyncio.run(main())
