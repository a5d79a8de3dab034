"""What handlers share: the application's services, the per-update conversation, sending views."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import MaybeInaccessibleMessage, Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.config import Settings
from bot.db.engine import Database
from bot.db.models import Subscriber
from bot.i18n import set_locale
from bot.screens import View
from bot.services import subscriptions
from bot.telegram_errors import is_edit_target_gone, is_not_modified

log = logging.getLogger(__name__)
_TAG = re.compile(r"<[^>]+>")


class BotData:
    """Application-wide services, set by the composition root (PTB builds it without args)."""

    settings: Settings
    db: Database


BotContext = CallbackContext[ExtBot, dict, dict, BotData]
BotApplication = Application[ExtBot, BotContext, dict, dict, BotData, object]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)


@dataclass
class Conversation:
    session: AsyncSession
    subscriber: Subscriber
    is_new: bool


@asynccontextmanager
async def conversation(update: Update, context: BotContext) -> AsyncIterator[Conversation]:
    """One transaction for one update, with the sender's subscriber row and language set.

    Send to Telegram after leaving the block, so no transaction waits on the network.
    """
    user = update.effective_user
    settings = context.bot_data.settings
    async with context.bot_data.db.transaction() as session:
        subscriber, created = await subscriptions.get_or_create_subscriber(
            session,
            telegram_user_id=user.id,
            chat_id=update.effective_chat.id,
            first_name=user.first_name,
            language=subscriptions.language_for(user.language_code, settings.default_language),
        )
        set_locale(subscriber.language)
        yield Conversation(session, subscriber, created)


async def reply(update: Update, view: View) -> None:
    await update.effective_chat.send_message(
        view.text, parse_mode="HTML", reply_markup=view.keyboard
    )


def _shows_already(message: MaybeInaccessibleMessage | None, view: View) -> bool:
    """True when the pressed message already shows this view, so no edit is needed."""
    if not isinstance(message, Message):
        return False
    plain = html.unescape(_TAG.sub("", view.text))
    return message.text == plain and message.reply_markup == view.keyboard


async def show_in_place(update: Update, view: View) -> None:
    """Redraw the message whose button was pressed; a repeated tap changes nothing.

    A message Telegram no longer lets the bot edit (deleted, inaccessible) is shown anew.
    """
    query = update.callback_query
    if query.message is not None and not query.message.is_accessible:
        await reply(update, view)
        return
    if _shows_already(query.message, view):
        return
    try:
        await query.edit_message_text(view.text, parse_mode="HTML", reply_markup=view.keyboard)
    except BadRequest as error:
        if is_not_modified(error):
            return
        if is_edit_target_gone(error):
            await reply(update, view)
            return
        raise
