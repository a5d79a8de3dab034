"""Webhook benchmark: people pressing 👍 on a broadcast while it is being sent.

    .venv/bin/python benchmarks/webhook.py [--users 500] [--latency-ms 50] [--jitter-ms 0]
        [--repeat 3]

The bot runs as its own process, as deployed: `python -m bot run --webhook` (webhook, and its
own sender), SQLite, DELIVERY_RATE=30 (Telegram's real limit). Here run Telegram's side: the
Bot API stand-in, answering after a round trip of --latency-ms (± --jitter-ms / 2) with the
flood limits on (30 messages a second overall, one a second per chat), and the people: a
broadcast to all of them is enqueued through `python -m bot broadcast`, and as soon as the
broadcast reaches someone, they press its 👍 (a callback_query update posted to the webhook,
with the button's callback_data from the message the stand-in recorded).

For each press: the time from its POST to the stand-in receiving the answerCallbackQuery
(the toast); how many were answered. The messages that follow a press (the consent question,
the first time) share the 30/s with the broadcast and go before it: the rate of all messages
(broadcast and follow-ups, measured from their arrivals as benchmarks/delivery.py does), the
delay from a press to its follow-up, 429s and early sends. Each repetition has a fresh
database, bot process and stand-in; figures are the median and the spread (min–max).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import platform
import re
import secrets
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

from delivery import steady_rate  # noqa: E402

from bot.db import migrate  # noqa: E402
from bot.db.engine import Database  # noqa: E402
from bot.db.models import Subscriber, utcnow  # noqa: E402
from bot.sandbox import BotApiSandbox  # noqa: E402
from bot.sandbox.errors import ApiError  # noqa: E402
from bot.sandbox.state import CallbackQueryRecord  # noqa: E402
from bot.services import plan  # noqa: E402
from bot.web import WEBHOOK_PATH  # noqa: E402

TOKEN = "123456789:BENCHMARK-token-local-sandbox-only"
SECRET = "benchmark-secret"
FIRST_USER = 2_000_000
CEILING = 30.0
THUMBS_UP = "👍"
BROADCAST_TEXT = "Metropoli Strategiche"
MESSAGE_METHODS = ("sendMessage", "editMessageText", "editMessageReplyMarkup")


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


def bot_environment(sandbox: BotApiSandbox, database_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": sandbox.base_url,
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


@dataclass
class People:
    """The users of the stand-in: each presses 👍 on the broadcast as soon as it arrives."""

    sandbox: BotApiSandbox
    webhook_url: str
    users: set[int]
    posted_at: dict[str, float] = field(default_factory=dict)  # callback query id → time
    pressed_chat: dict[str, int] = field(default_factory=dict)  # callback query id → chat
    broadcast_messages: set[tuple[int, int]] = field(default_factory=set)  # (chat, message)
    think_s: float = 0.0  # from receiving the broadcast to pressing
    failed_posts: int = 0
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _tasks: set[asyncio.Task] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        world = self.sandbox.world
        seen = 0
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as client:
            while not stop.is_set():
                history = world.history
                while seen < len(history):
                    entry = history[seen]
                    seen += 1
                    data = _thumbs_up(entry.buttons) if entry.kind == "bot_message" else None
                    message_id = entry.message_id
                    if data is None or message_id is None or entry.chat_id not in self.users:
                        continue
                    key = (entry.chat_id, message_id)
                    if key in self.broadcast_messages:
                        continue
                    self.broadcast_messages.add(key)
                    task = asyncio.create_task(self.press(client, entry.chat_id, message_id, data))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                await world.notifier.wait(0.05)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def press(
        self, client: aiohttp.ClientSession, chat_id: int, message_id: int, data: str
    ) -> None:
        """What the stand-in does for a press (as SandboxUser does), posted to the webhook."""
        if self.think_s:
            await asyncio.sleep(self.think_s)
        world = self.sandbox.world
        user = self.sandbox.user(chat_id)
        record = world.find_message(user.chat, message_id)
        if record is None:
            return
        query = CallbackQueryRecord(
            id=str(secrets.randbits(62)),
            user_id=chat_id,
            chat_id=chat_id,
            message_id=message_id,
            data=data,
            created_at=world.clock(),
        )
        world.callback_queries[query.id] = query
        update = {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": query.id,
                "from": user.profile.to_json(),
                "message": world.message_json(record),
                "chat_instance": user.chat.chat_instance,
                "data": data,
            },
        }
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        self.pressed_chat[query.id] = chat_id
        self.posted_at[query.id] = time.time()
        try:
            async with client.post(self.webhook_url, json=update, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    self.failed_posts += 1
        except aiohttp.ClientError:
            self.failed_posts += 1


def _thumbs_up(buttons: list[list[tuple[str, str | None]]]) -> str | None:
    for row in buttons:
        for label, value in row:
            if label.startswith(THUMBS_UP) and value:
                return value
    return None


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
    failed_posts: int
    bot_log: list[str]


def message_chat(call: Any) -> tuple[int, int] | None:
    result = call.outcome
    if isinstance(result, dict) and "chat" in result:
        return result["chat"]["id"], result["message_id"]
    return None


def measure(sandbox: BotApiSandbox, people: People, bot_log: list[str]) -> Run:
    calls = sandbox.calls
    answered_at: dict[str, float] = {}
    for call in calls:
        if call.method == "answerCallbackQuery" and call.ok:
            answered_at.setdefault(str(call.params.get("callback_query_id")), call.at)
    toasts = sorted(
        answered_at[query] - posted
        for query, posted in people.posted_at.items()
        if query in answered_at
    )
    messages = [c for c in calls if c.method in MESSAGE_METHODS and c.ok]
    broadcast_at = []
    follow_ups: dict[int, list[float]] = {}
    for call in messages:
        sent = message_chat(call)
        if call.method == "sendMessage" and sent in people.broadcast_messages:
            broadcast_at.append(call.at)
        elif sent is not None:
            follow_ups.setdefault(sent[0], []).append(call.at)
    follow_up_s = []
    for query, posted in people.posted_at.items():
        later = [at for at in follow_ups.get(people.pressed_chat[query], []) if at >= posted]
        if later:
            follow_up_s.append(min(later) - posted)
    refused = [c for c in calls if isinstance(c.outcome, ApiError) and c.outcome.error_code == 429]
    rejected_broadcast = sum(1 for c in refused if BROADCAST_TEXT in str(c.params.get("text")))
    return Run(
        users=len(people.users),
        answered=len(toasts),
        toast_s=toasts,
        message_rate=steady_rate([c.at for c in messages], CEILING),
        broadcast_sent=len(broadcast_at),
        follow_ups=sum(len(times) for times in follow_ups.values()),
        follow_up_s=sorted(follow_up_s),
        broadcast_s=max(broadcast_at) - min(broadcast_at) if broadcast_at else 0.0,
        rejected=len(refused),
        rejected_broadcast=rejected_broadcast,
        early_sends=sandbox.early_sends,
        failed_posts=people.failed_posts,
        bot_log=bot_log,
    )


async def one_run(args: argparse.Namespace) -> Run:
    port = free_port()
    users = set(range(FIRST_USER, FIRST_USER + args.users))
    with tempfile.TemporaryDirectory() as workdir:
        database_url = f"sqlite:///{workdir}/bench.sqlite3"
        await prepare(database_url, args.users)
        async with BotApiSandbox(token=TOKEN, bot_username="psm_bench_bot") as sandbox:
            for user_id in users:
                sandbox.user(user_id, first_name="Citizen", language_code="it")
            sandbox.set_latency(args.latency_ms / 1000, args.jitter_ms / 1000)
            sandbox.set_flood_limits(global_per_second=int(CEILING), per_chat_per_second=1)
            env = bot_environment(sandbox, database_url, port)
            log_path = Path(workdir) / "bot.log"
            bot = await start_bot(env, port, log_path, args.profile_bot)
            webhook_url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
            people = People(sandbox, webhook_url, users, think_s=args.think_ms / 1000)
            stop = asyncio.Event()
            pressing = asyncio.create_task(people.run(stop))
            try:
                await broadcast(env)
                every_press_done = lambda: len(people.posted_at) >= len(users)  # noqa: E731
                await sandbox.wait_until(every_press_done, timeout=args.timeout)
                # Then the answers and the follow-ups: done once nothing came for 3 s.
                await sandbox.wait_idle(settle=3.0, timeout=args.timeout)
            finally:
                stop.set()
                await pressing
                bot.terminate()
                await bot.wait()
            log = log_path.read_text(errors="replace").splitlines()
            return measure(sandbox, people, log)


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


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


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
    args = parser.parse_args()
    print(
        f"psm-bot webhook benchmark: {args.users} people press 👍 on a broadcast as it reaches "
        f"them (after {args.think_ms:g} ms); bot `run --webhook`, SQLite, "
        f"DELIVERY_RATE={CEILING:g}; round trip {args.latency_ms:g} ms ± {args.jitter_ms / 2:g}, "
        "flood limits on (30/s, 1/s per chat); "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(f"load average at start: {load_average()}")
    runs = []
    for repetition in range(args.repeat):
        # The stand-in shares this process with the people pressing: the garbage of earlier
        # runs collected in the middle of this one would stall its clock and bunch arrivals.
        gc.collect()
        run = await one_run(args)
        runs.append(run)
        print(
            f"run {repetition + 1}: {run.answered}/{run.users} answered, toast p99 "
            f"{percentile(run.toast_s, 0.99) * 1000:.0f} ms, {run.message_rate:.1f} msg/s, "
            f"{run.follow_ups} follow-ups, {run.rejected} × 429, {run.early_sends} early sends; "
            f"load average {load_average()}",
            flush=True,
        )
    report(runs)
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main())
