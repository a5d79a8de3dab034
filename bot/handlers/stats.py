"""/stats for the staff: a short summary, PNG charts and the same figures as CSV."""

from __future__ import annotations

import asyncio

from telegram import InputFile, InputMediaPhoto, Update
from telegram.ext import CommandHandler, filters

from bot.db.models import utcnow
from bot.handlers.context import BotContext, chat_of, conversation, reply
from bot.handlers.staff import is_staff, refused
from bot.i18n import TIMEZONE, _, format_number, ngettext
from bot.screens import charts as stats_charts
from bot.services import statistics
from bot.services.statistics import Statistics


def _summary(stats: Statistics) -> str:
    counts = stats.deliveries
    blocked = counts["blocked"]  # people, each counted once
    return "\n".join(
        [
            _("<b>Statistics</b>"),
            _("Active subscribers: {subscribers}").format(
                subscribers=format_number(stats.active_subscribers)
            ),
            _("Last {days} days: {joined} joined or returned, {left} left").format(
                days=statistics.RECENT_DAYS,
                joined=format_number(stats.joined_recently),
                left=format_number(stats.left_recently),
            ),
            _("Deliveries: {sent} sent, {failed} failed").format(
                sent=format_number(counts["sent"]), failed=format_number(counts["failed"])
            ),
            ngettext(
                "{count} person blocked the bot", "{count} people blocked the bot", blocked
            ).format(count=format_number(blocked)),
            _("Feedback entries on the top subjects: {feedback}").format(
                feedback=format_number(sum(count for _subject, count in stats.feedback_by_subject))
            ),
        ]
    )


async def stats_command(update: Update, context: BotContext) -> None:
    stats = None
    async with conversation(update, context) as convo:
        if await is_staff(convo, update, context):
            stats = await statistics.compute(convo.session)
            text = _summary(stats)
            caption = _("Statistics as CSV (section, key, value).")
        else:
            view = refused()
    if stats is None:
        await reply(update, view)
        return
    charts = await asyncio.to_thread(stats_charts.draw, stats)
    chat = chat_of(update)
    await chat.send_message(text, parse_mode="HTML")
    await chat.send_media_group([InputMediaPhoto(png, filename=name) for name, png in charts])
    day = utcnow().astimezone(TIMEZONE).date().isoformat()
    await chat.send_document(
        InputFile(statistics.to_csv(stats), filename=f"psm-statistics-{day}.csv"), caption=caption
    )


def handlers() -> list:
    return [CommandHandler(["stats", "statistiche"], stats_command, filters.ChatType.PRIVATE)]
