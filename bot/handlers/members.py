"""Users who block or unblock the bot (my_chat_member updates)."""

from __future__ import annotations

import logging

from telegram import ChatMember, ChatMemberUpdated, Update
from telegram.ext import ChatMemberHandler

from bot.handlers.context import BotContext, required
from bot.services import subscriptions

log = logging.getLogger(__name__)

_GONE = (ChatMember.BANNED, ChatMember.LEFT)


async def on_my_chat_member(update: Update, context: BotContext) -> None:
    change: ChatMemberUpdated = required(update.my_chat_member, "my_chat_member")
    if change.chat.type != "private":
        return
    user_id = change.from_user.id
    blocked = change.new_chat_member.status in _GONE
    async with context.bot_data.db.transaction() as session:
        if blocked:
            known = await subscriptions.mark_blocked(session, user_id)
        else:
            known = await subscriptions.mark_unblocked(session, user_id)
    log.info(
        "user %s %s the bot (known: %s)", user_id, "blocked" if blocked else "unblocked", known
    )


def handlers() -> list:
    return [ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)]
