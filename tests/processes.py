"""Real bot processes for tests that need more than one (crashes, several workers)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.conftest import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent


async def start_deliver(database_url: str, sandbox, rate: float) -> asyncio.subprocess.Process:
    """`python -m bot deliver` against the stand-in: sends what is due, then exits."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE_URL": sandbox.base_url,
        "DELIVERY_RATE": str(rate),
        "LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "deliver",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
