"""The feeds' repeating job on PTB's JobQueue.

`schedule_feed_polling(application, sender=sender)`: every few seconds, poll the feeds
whose time has come, wake the sender when there is news, and tell the administrators
when a feed is paused after failing too often.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Job

from bot.config import Settings
from bot.db.engine import Database
from bot.handlers.context import BotApplication, BotContext
from bot.i18n import ngettext, use_locale
from bot.jobs import Wakeable, job_data
from bot.metrics import Metrics
from bot.services import subscriptions
from bot.services.feed_poller import FeedPoller, FeedPollResult, PollerConfig
from feeds.telegram_html import split_html

log = logging.getLogger(__name__)

FEED_POLLING_JOB = "feed-polling"
# How often the job looks for due feeds; each feed keeps its own interval (≥ 120 s).
FEED_POLLING_TICK_S = 30.0


@dataclass
class FeedPollingJob:
    poller: FeedPoller
    sender: Wakeable | None = None
    metrics: Metrics | None = None


def schedule_feed_polling(
    application: BotApplication,
    *,
    sender: Wakeable | None = None,
    every_s: float = FEED_POLLING_TICK_S,
    first_s: float = 10.0,
    config: PollerConfig | None = None,
    poller: FeedPoller | None = None,
    metrics: Metrics | None = None,
) -> Job:
    """Register the repeating feed-polling job; call after `build_application`."""
    if application.job_queue is None:
        raise RuntimeError(
            "feed polling needs PTB's JobQueue: install python-telegram-bot[job-queue]"
        )
    poller = poller or FeedPoller(application.bot_data.db, config=config)
    return application.job_queue.run_repeating(
        poll_feeds,
        interval=every_s,
        first=first_s,
        name=FEED_POLLING_JOB,
        data=FeedPollingJob(poller, sender, metrics),
        # A slow round is never run twice at once; missed rounds collapse into one.
        job_kwargs={"max_instances": 1, "coalesce": True},
    )


async def poll_feeds(context: BotContext) -> None:
    job = job_data(context, FeedPollingJob)
    report = await job.poller.poll_due_feeds()
    if job.metrics is not None:
        for result in report.results:
            job.metrics.feed_polls.labels(result.status.value).inc()
    if report.notification_ids:
        log.info("feeds: %d new notifications", len(report.notification_ids))
        if job.sender is not None:
            job.sender.wake()
    if report.paused:
        data = context.bot_data
        await tell_admins_about_paused_feeds(context.bot, data.settings, data.db, report.paused)


async def tell_admins_about_paused_feeds(
    bot: Bot, settings: Settings, db: Database, paused: Sequence[FeedPollResult]
) -> None:
    """One message to each administrator, in their language (Italian by default)."""
    languages = await _admin_languages(db, settings)
    for admin_id in sorted(settings.admin_ids):
        with use_locale(languages.get(admin_id, settings.default_language)):
            text = "\n\n".join(paused_feed_alert(result) for result in paused)
        await _send_quietly(bot, admin_id, text)


def paused_feed_alert(result: FeedPollResult) -> str:
    """The alert about one paused feed, in the current language (Telegram HTML)."""
    return ngettext(
        "⚠️ <b>Feed paused</b> after {count} failed poll: {name}\n{url}\n"
        "Last error: {error}\nTo resume it: <code>python -m bot feeds resume {id}</code>",
        "⚠️ <b>Feed paused</b> after {count} failed polls in a row: {name}\n{url}\n"
        "Last error: {error}\nTo resume it: <code>python -m bot feeds resume {id}</code>",
        result.consecutive_failures,
    ).format(
        count=result.consecutive_failures,
        name=html.escape(result.name, quote=False),
        url=html.escape(result.url, quote=False),
        error=html.escape(result.error or "?", quote=False),
        id=result.feed_id,
    )


async def _admin_languages(db: Database, settings: Settings) -> dict[int, str]:
    languages = {}
    async with db.transaction() as session:
        for admin_id in settings.admin_ids:
            subscriber = await subscriptions.get_subscriber(session, admin_id)
            if subscriber is not None:
                languages[admin_id] = subscriber.language
    return languages


async def _send_quietly(bot: Bot, chat_id: int, text: str) -> None:
    """An alert that cannot be delivered (admin blocked the bot…) is logged, not raised."""
    for piece in split_html(text):
        try:
            await bot.send_message(
                chat_id,
                piece,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except TelegramError as error:
            log.warning("cannot alert administrator %s: %s", chat_id, error)
            return
