"""The Bot API stand-in in its own process (the benchmark's second core).

Usage: python benchmarks/_sandbox_process.py FIRST_USER_ID COUNT [--flood RATE]
Prints the base URL, then serves until stdin closes; prints the count of 429s at exit.
"""

import asyncio
import gc
import sys

from bot.sandbox import BotApiSandbox

TOKEN = "123456789:BENCHMARK-token-local-sandbox-only"


async def main() -> None:
    first, count = int(sys.argv[1]), int(sys.argv[2])
    flood = float(sys.argv[sys.argv.index("--flood") + 1]) if "--flood" in sys.argv else None
    async with BotApiSandbox(token=TOKEN, bot_username="psm_bench_bot") as sandbox:
        for user_id in range(first, first + count):
            sandbox.user(user_id, first_name="Citizen", language_code="it")
        # 100,000 users are many objects: keep them out of the collector's way, so that a
        # full collection cannot stall the server and bunch up arrivals.
        gc.collect()
        gc.freeze()
        if flood:
            sandbox.set_flood_limits(global_per_second=int(flood), per_chat_per_second=1)
        print(sandbox.base_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        print(
            sandbox.count("sendMessage", ok=False),
            sandbox.count("sendMessage", ok=True),
            flush=True,
        )


asyncio.run(main())
