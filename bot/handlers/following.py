"""Following strategies, zones and comuni: menus, toggles, /mysubs and /stop."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.callbacks import ConfirmStop, OpenScreen, Screen, Toggle
from bot.db.models import Comune, TargetKind
from bot.handlers.context import (
    BotContext,
    Conversation,
    conversation,
    query_of,
    reply,
    show_in_place,
)
from bot.i18n import _, current_language, ngettext
from bot.screens import View
from bot.screens import following as following_screens
from bot.services import subscriptions
from bot.services.subscriptions import Change, FollowedItem, Target


async def my_subscriptions_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context) as convo:
        view = await following_screens.my_subscriptions(convo.session, convo.subscriber)
    await reply(update, view)


async def stop_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context):
        view = following_screens.stop_confirmation()
    await reply(update, view)


async def open_screen(update: Update, context: BotContext, action: OpenScreen) -> None:
    async with conversation(update, context) as convo:
        view = await _render(convo, action.screen, action.zone_id)
    if view is None:
        await query_of(update).answer(_("This item no longer exists."), show_alert=True)
        return
    await query_of(update).answer()
    await show_in_place(update, view)


async def toggle(update: Update, context: BotContext, action: Toggle) -> None:
    target = Target(action.kind, action.target_id)
    async with conversation(update, context) as convo:
        outcome = await subscriptions.set_following(
            convo.session, convo.subscriber, target, action.follow
        )
        view = None
        if outcome is not None:
            view = await _render(convo, action.screen, await _zone_of(convo, target))
    await answer_follow(update, outcome, view)


async def answer_follow(
    update: Update, outcome: tuple[FollowedItem, Change] | None, view: View | None
) -> None:
    """Tell what changed (or that the item is gone), then redraw the screen."""
    if outcome is None:
        await query_of(update).answer(_("This item no longer exists."), show_alert=True)
        return
    item, change = outcome
    await query_of(update).answer(follow_feedback(change, item.name(current_language())))
    if view is not None:
        await show_in_place(update, view)


def follow_feedback(change: Change, name: str) -> str:
    """The answer to a follow or stop-following button."""
    messages = {
        Change.ADDED: _("You now follow: {name}"),
        Change.ALREADY: _("You already follow: {name}"),
        Change.REMOVED: _("You no longer follow: {name}"),
        Change.NOT_FOLLOWING: _("You were not following: {name}"),
    }
    return messages[change].format(name=name)


async def _zone_of(convo: Conversation, target: Target) -> str | None:
    if target.kind is TargetKind.ZONE:
        return target.id
    if target.kind is TargetKind.COMUNE:
        comune = await convo.session.get(Comune, target.id)
        return comune.zone_id if comune else None
    return None


async def _render(convo: Conversation, screen: Screen, zone_id: str | None) -> View | None:
    session, subscriber = convo.session, convo.subscriber
    if screen is Screen.STRATEGIES:
        return await following_screens.strategies(session, subscriber)
    if screen is Screen.ZONES:
        return await following_screens.zones(session, subscriber)
    if screen is Screen.ZONE:
        return await following_screens.zone(session, subscriber, zone_id) if zone_id else None
    if screen is Screen.MY_SUBSCRIPTIONS:
        return await following_screens.my_subscriptions(session, subscriber)
    if screen is Screen.PREFERENCES:
        return following_screens.preferences(subscriber)
    return following_screens.main_menu()


async def confirm_stop(update: Update, context: BotContext, action: ConfirmStop) -> None:
    async with conversation(update, context) as convo:
        removed = (
            await subscriptions.unsubscribe_all(convo.session, convo.subscriber)
            if action.confirmed
            else None
        )
    query = query_of(update)
    await query.answer()
    if removed is None:
        text = _("All right: nothing has changed.")
    elif removed == 0:
        text = _("You were not following anything. You can start with /start.")
    else:
        text = ngettext(
            "Done: you no longer follow anything ({count} subscription removed). "
            "You can come back at any time with /start.",
            "Done: you no longer follow anything ({count} subscriptions removed). "
            "You can come back at any time with /start.",
            removed,
        ).format(count=removed)
    await show_in_place(update, View(text))


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler(["mysubs", "iscrizioni"], my_subscriptions_command, filters=private),
        CommandHandler("stop", stop_command, filters=private),
    ]
