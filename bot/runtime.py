"""Starting and stopping the bot: database preparation and long polling."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from telegram import Update

from bot.config import Settings
from bot.db import migrate
from bot.db.engine import Database
from bot.handlers.context import BotApplication
from bot.services import plan

log = logging.getLogger(__name__)


async def prepare_database(
    settings: Settings, plan_file: Path = plan.DEFAULT_PLAN_FILE
) -> Database:
    """Migrate to the latest schema and seed the plan's reference data (idempotent)."""
    await asyncio.to_thread(migrate.upgrade, settings.database_url)
    db = Database(settings.database_url)
    plan_data = plan.load_plan(plan_file)
    async with db.transaction() as session:
        await plan.seed_reference_data(session, plan_data)
    return db


@asynccontextmanager
async def polling(application: BotApplication, *, poll_timeout: int = 30) -> AsyncIterator[None]:
    """Run the application by long polling for the duration of the block.

    PTB calls post_init only inside run_polling(); here the block owns the loop, so we do.
    """
    async with application:
        if application.post_init:
            await application.post_init(application)
        await application.updater.start_polling(
            poll_interval=0,
            timeout=poll_timeout,
            allowed_updates=Update.ALL_TYPES,
        )
        await application.start()
        try:
            yield
        finally:
            await application.updater.stop()
            await application.stop()


async def run_until_signalled(application: BotApplication) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with polling(application):
        log.info("psm-bot is running by long polling; Ctrl+C stops it")
        await stop.wait()
    log.info("psm-bot stopped")
