"""Whatever no other handler took: unknown commands and free text get a helpful answer."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import MessageHandler, filters

from bot.handlers.context import BotContext, conversation, reply
from bot.i18n import _
from bot.screens import View
from bot.screens import participation as participation_screens

log = logging.getLogger(__name__)


async def unknown_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context):
        text = _("I don't know this command. /help lists what I can do.")
    await reply(update, View(text))


async def anything_else(update: Update, context: BotContext) -> None:
    async with conversation(update, context):
        view = participation_screens.not_feedback()
    await reply(update, view)


async def on_error(update: object, context: BotContext) -> None:
    log.error("error while handling an update", exc_info=context.error)
    if (
        isinstance(update, Update)
        and update.effective_chat
        and update.effective_chat.type == "private"
    ):
        try:
            await update.effective_chat.send_message(
                _("Sorry, something went wrong on our side. Please try again in a moment.")
            )
        except Exception:  # the chat may be unreachable; the original error is logged above
            log.warning("could not tell the user about the error", exc_info=True)


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [
        MessageHandler(private & filters.COMMAND, unknown_command),
        MessageHandler(private & ~filters.COMMAND, anything_else),
    ]
