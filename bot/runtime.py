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
from bot.delivery.sender import Sender
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
async def polling(
    application: BotApplication, *, sender: Sender | None = None, poll_timeout: int = 30
) -> AsyncIterator[None]:
    """Run the application by long polling (and the sender, if given) for the block.

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
        async with _sending(sender):
            try:
                yield
            finally:
                await application.updater.stop()
                await application.stop()


@asynccontextmanager
async def _sending(sender: Sender | None) -> AsyncIterator[None]:
    if sender is None:
        yield
        return
    stop = asyncio.Event()
    async with sender.bot:
        task = asyncio.create_task(sender.run_forever(stop), name="delivery-sender")
        try:
            yield
        finally:
            stop.set()
            await task


async def run_until_signalled(application: BotApplication, sender: Sender | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with polling(application, sender=sender):
        log.info("psm-bot is running by long polling; Ctrl+C stops it")
        await stop.wait()
    log.info("psm-bot stopped")
