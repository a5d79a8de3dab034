"""The Bot API stand-in in its own process (the benchmark's second core).

Usage: python benchmarks/_sandbox_process.py FIRST_USER_ID COUNT [--flood RATE]
           [--latency-ms MS] [--jitter-ms MS]

`--flood RATE`: Telegram's flood limits (RATE messages a second overall, one a second per
chat; paid broadcasts 1,000 a second). `--latency-ms`/`--jitter-ms`: each request takes a
round trip of MS ± jitter/2 (`BotApiSandbox.set_latency`).

Prints the base URL, then serves. Each line read on stdin is a question: `count` is answered
with the count of sendMessage calls accepted so far. When stdin closes it prints one JSON
line: `rejected` (answers 429), `accepted` (sendMessage calls accepted), `early_sends`
(messages sent before a 429's retry_after had passed), `refusals` (the 429s by the limit they
enforced: overall, chat, group, early), `arrivals` (time.time() at which
each accepted sendMessage reached the stand-in, in order) and `refused_at` (the same, of each
429), then exits.
"""

import argparse
import asyncio
import gc
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.sandbox import BotApiSandbox
from bot.sandbox.dispatcher import ApiCall
from bot.sandbox.errors import ApiError

TOKEN = "123456789:BENCHMARK-token-local-sandbox-only"


def accepted_arrivals(sandbox: BotApiSandbox) -> list[float]:
    return [call.at for call in sandbox.calls if call.method == "sendMessage" and call.ok]


def refused_calls(sandbox: BotApiSandbox) -> list[ApiCall]:
    """The calls answered 429."""
    return [
        call
        for call in sandbox.calls
        if isinstance(call.outcome, ApiError) and call.outcome.error_code == 429
    ]


def refused_arrivals(sandbox: BotApiSandbox) -> list[float]:
    return [call.at for call in refused_calls(sandbox)]


def rejected(sandbox: BotApiSandbox) -> int:
    return len(refused_arrivals(sandbox))


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("first", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--flood", type=float)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    return parser


@asynccontextmanager
async def stand_in(args: argparse.Namespace) -> AsyncIterator[BotApiSandbox]:
    """The stand-in with the users FIRST … FIRST + COUNT − 1, its limits and round trip."""
    async with BotApiSandbox(token=TOKEN, bot_username="psm_bench_bot") as sandbox:
        for user_id in range(args.first, args.first + args.count):
            sandbox.user(user_id, first_name="Citizen", language_code="it")
        # 100,000 users are many objects: keep them out of the collector's way, so that a
        # full collection cannot stall the server and bunch up arrivals.
        gc.collect()
        gc.freeze()
        if args.flood:
            sandbox.set_flood_limits(global_per_second=int(args.flood), per_chat_per_second=1)
        if args.latency_ms or args.jitter_ms:
            sandbox.set_latency(args.latency_ms / 1000, args.jitter_ms / 1000)
        yield sandbox


async def main() -> None:
    async with stand_in(argument_parser().parse_args()) as sandbox:
        print(sandbox.base_url, flush=True)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            print(sandbox.count("sendMessage", ok=True), flush=True)
        arrivals = accepted_arrivals(sandbox)
        summary = {
            "rejected": rejected(sandbox),
            "accepted": len(arrivals),
            "early_sends": sandbox.early_sends,
            "refusals": sandbox.refusals,
            "arrivals": arrivals,
            "refused_at": refused_arrivals(sandbox),
        }
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
