"""One entry point for inline buttons: parse the callback data, then dispatch.

Stale or forged data gets a polite answer and changes nothing.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot import callbacks
from bot.callbacks import (
    BroadcastButton,
    CancelScheduled,
    ChooseLanguage,
    ChooseSubject,
    ConfirmForget,
    ConfirmStop,
    Consent,
    EditProfile,
    EventButton,
    Feedback,
    FeedbackItem,
    FollowAction,
    InvalidCallback,
    OpenFeedbackMenu,
    OpenPlan,
    OpenScreen,
    SetPreference,
    Toggle,
)
from bot.handlers import (
    broadcast,
    events,
    feedback,
    following,
    participation,
    plan,
    preferences,
    privacy,
    start,
)
from bot.handlers.context import BotContext, conversation, query_of
from bot.i18n import _

log = logging.getLogger(__name__)


async def on_button(update: Update, context: BotContext) -> None:
    query = query_of(update)
    try:
        action = callbacks.parse(query.data)
    except InvalidCallback:
        log.info("ignored unknown callback data %r", query.data)
        async with conversation(update, context):
            pass
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    match action:
        case Toggle():
            await following.toggle(update, context, action)
        case OpenScreen():
            await following.open_screen(update, context, action)
        case ChooseLanguage():
            await start.choose_language(update, context, action)
        case ConfirmStop():
            await following.confirm_stop(update, context, action)
        case Feedback():
            await feedback.on_feedback(update, context, action)
        case FeedbackItem():
            await feedback.on_feedback_item(update, context, action)
        case SetPreference():
            await preferences.set_preference(update, context, action)
        case Consent():
            await feedback.on_consent(update, context, action)
        case OpenFeedbackMenu():
            await participation.open_feedback_menu(update, context, action)
        case ChooseSubject():
            await participation.choose_subject(update, context, action)
        case EditProfile():
            await privacy.edit_profile(update, context, action)
        case ConfirmForget():
            await privacy.confirm_forget(update, context, action)
        case OpenPlan():
            await plan.open_plan(update, context, action)
        case FollowAction():
            await plan.follow_action(update, context, action)
        case EventButton():
            await events.on_event_button(update, context, action)
        case BroadcastButton():
            await broadcast.on_button(update, context, action)
        case CancelScheduled():
            await broadcast.cancel_scheduled(update, context, action)


def handlers() -> list:
    return [CallbackQueryHandler(on_button)]
