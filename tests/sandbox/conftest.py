"""Fixtures: a started sandbox, a real PTB Bot pointed at it, a polling Application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import telegram
from telegram.ext import Application, ApplicationBuilder

from bot.sandbox import BotApiSandbox

TOKEN = "123456:TEST"
BOT_USERNAME = "psm_test_bot"


@pytest.fixture
async def sandbox() -> AsyncIterator[BotApiSandbox]:
    async with BotApiSandbox(token=TOKEN, bot_username=BOT_USERNAME, reply_timeout=5.0) as started:
        yield started


@pytest.fixture
async def bot(sandbox: BotApiSandbox) -> AsyncIterator[telegram.Bot]:
    ptb_bot = telegram.Bot(
        sandbox.token, base_url=sandbox.base_url, base_file_url=sandbox.base_file_url
    )
    async with ptb_bot:
        yield ptb_bot


def build_application(sandbox: BotApiSandbox) -> Application:
    return (
        ApplicationBuilder()
        .token(sandbox.token)
        .base_url(sandbox.base_url)
        .base_file_url(sandbox.base_file_url)
        .build()
    )


@contextlib.asynccontextmanager
async def polling(application: Application) -> AsyncIterator[Application]:
    """Run the application with real long polling against the sandbox."""
    await application.initialize()
    await application.updater.start_polling(poll_interval=0, timeout=1)
    await application.start()
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
