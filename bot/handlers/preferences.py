"""/preferences: instant updates or a daily/weekly digest, and quiet hours."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.callbacks import SetPreference
from bot.handlers.context import BotContext, conversation, query_of, reply, show_in_place
from bot.i18n import _
from bot.screens import following as following_screens
from bot.services import subscriptions
from bot.services.subscriptions import InvalidPreference


async def preferences_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context) as convo:
        view = following_screens.preferences(convo.subscriber)
    await reply(update, view)


async def set_preference(update: Update, context: BotContext, action: SetPreference) -> None:
    query = query_of(update)
    async with conversation(update, context) as convo:
        try:
            subscriptions.set_preference(convo.subscriber, action.name, action.value)
        except InvalidPreference:
            view = None
        else:
            view = following_screens.preferences(convo.subscriber)
    if view is None:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    await query.answer(_("Saved."))
    await show_in_place(update, view)


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [CommandHandler(["preferences", "preferenze"], preferences_command, filters=private)]
