"""/piano (/plan): browse the plan's actions, search them, follow one."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.callbacks import FollowAction, OpenPlan
from bot.db.models import TargetKind
from bot.handlers.context import (
    BotContext,
    Conversation,
    command_args,
    conversation,
    query_of,
    reply,
    show_in_place,
)
from bot.handlers.following import answer_follow
from bot.i18n import _
from bot.screens import View
from bot.screens import plan as plan_screens
from bot.services import monitoring, subscriptions
from bot.services.subscriptions import Target

MAX_QUERY_CHARS = 100


async def plan_command(update: Update, context: BotContext) -> None:
    query = " ".join(command_args(context))[:MAX_QUERY_CHARS].strip()
    async with conversation(update, context) as convo:
        view = await _command_view(convo, query, context.bot_data.settings.public_url)
    await reply(update, view)


async def _command_view(convo: Conversation, query: str, public_url: str | None) -> View:
    if not query:
        return await plan_screens.strategies(convo.session)
    action = await monitoring.get_action(convo.session, query.upper())
    if action is None:
        action = await monitoring.get_action(convo.session, query)
    if action is not None:
        card = await _card(convo, action.code, public_url)
        if card is not None:  # the action was just found, so it has a card
            return card
    return await plan_screens.search_results(convo.session, query)


async def _card(convo: Conversation, code: str, public_url: str | None) -> View | None:
    followed = await subscriptions.followed_ids(convo.session, convo.subscriber, TargetKind.ACTION)
    return await plan_screens.action_card(
        convo.session, code, following=code in followed, public_url=public_url
    )


async def open_plan(update: Update, context: BotContext, action: OpenPlan) -> None:
    async with conversation(update, context) as convo:
        if action.action_code:
            view = await _card(convo, action.action_code, context.bot_data.settings.public_url)
        elif action.strategy_id:
            view = await plan_screens.strategy_actions(convo.session, action.strategy_id)
        else:
            view = await plan_screens.strategies(convo.session)
    if view is None:
        await query_of(update).answer(_("This item no longer exists."), show_alert=True)
        return
    await query_of(update).answer()
    await show_in_place(update, view)


async def follow_action(update: Update, context: BotContext, action: FollowAction) -> None:
    target = Target(TargetKind.ACTION, action.action_code)
    async with conversation(update, context) as convo:
        outcome = await subscriptions.set_following(
            convo.session, convo.subscriber, target, action.follow
        )
        public_url = context.bot_data.settings.public_url
        view = await _card(convo, action.action_code, public_url) if outcome is not None else None
    await answer_follow(update, outcome, view)


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [CommandHandler(["piano", "plan"], plan_command, filters=private)]
