"""What handlers share: the application's services, the per-update conversation, sending views."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, Chat, MaybeInaccessibleMessage, Message, Update, User
from telegram.error import BadRequest
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from bot.config import Settings
from bot.db.engine import Database
from bot.db.models import Subscriber
from bot.i18n import set_locale
from bot.screens import View
from bot.services import subscriptions
from bot.telegram_errors import is_edit_target_gone, is_not_modified

log = logging.getLogger(__name__)
_TAG = re.compile(r"<[^>]+>")
T = TypeVar("T")


class BotData:
    """Application-wide services, set by the composition root (PTB builds it without args)."""

    settings: Settings
    db: Database


BotContext = CallbackContext[ExtBot, dict, dict, BotData]
BotApplication = Application[ExtBot, BotContext, dict, dict, BotData, JobQueue[BotContext]]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)


# --- the parts of an update a handler relies on -------------------------------------------
# PTB types every part of an Update (and of its context) as optional, since each kind of update
# has only some of them. The handlers are registered for private chats only (commands, messages,
# buttons of the bot's own messages), so the parts below are always there; a missing one is a
# registration bug, not something a user can send, and fails loudly like an attribute of None.


class MissingPart(RuntimeError):
    """An update or context lacks a part that its handler's registration guarantees."""


def required(part: T | None, what: str) -> T:
    """`part`, which the registration guarantees (e.g. a document for filters.Document.ALL)."""
    if part is None:
        raise MissingPart(what)
    return part


def user_of(update: Update) -> User:
    """Who sent the command, message or button press."""
    return required(update.effective_user, "effective_user")


def chat_of(update: Update) -> Chat:
    """The private chat with the sender."""
    return required(update.effective_chat, "effective_chat")


def message_of(update: Update) -> Message:
    """The command or message (new or edited) being handled."""
    return required(update.effective_message, "effective_message")


def query_of(update: Update) -> CallbackQuery:
    """The button press being handled (CallbackQueryHandler)."""
    return required(update.callback_query, "callback_query")


def pressed_message(update: Update) -> MaybeInaccessibleMessage:
    """The message whose button was pressed: the bot sends no inline messages, so it is set."""
    return required(query_of(update).message, "callback_query.message")


def command_args(context: BotContext) -> list[str]:
    """The words after the command (PTB sets them for CommandHandler only)."""
    return context.args or []


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
    user = user_of(update)
    settings = context.bot_data.settings
    async with context.bot_data.db.transaction() as session:
        subscriber, created = await subscriptions.get_or_create_subscriber(
            session,
            telegram_user_id=user.id,
            chat_id=chat_of(update).id,
            first_name=user.first_name,
            language=subscriptions.language_for(user.language_code, settings.default_language),
        )
        set_locale(subscriber.language)
        yield Conversation(session, subscriber, created)


async def reply(update: Update, view: View) -> None:
    await chat_of(update).send_message(view.text, parse_mode="HTML", reply_markup=view.keyboard)


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
    query = query_of(update)
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
