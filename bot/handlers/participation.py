"""Texts that go into the participation record: replies, answers to prompts, /feedback.

Media, forwarded and edited messages get a clear answer and are not recorded.
"""

from __future__ import annotations

from telegram import Message, Update
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.callbacks import ChooseSubject, FeedbackMenu, OpenFeedbackMenu
from bot.db.models import utcnow
from bot.handlers.context import (
    BotContext,
    Conversation,
    conversation,
    message_of,
    query_of,
    reply,
    required,
    show_in_place,
)
from bot.handlers.feedback import ask_about
from bot.i18n import _, current_language
from bot.screens import View
from bot.screens import participation as pscreens
from bot.services import participation, subjects
from bot.services.participation import MAX_ORGANISATION_CHARS, TextOutcome, TextStatus


async def feedback_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context):
        view = pscreens.feedback_menu()
    await reply(update, view)


async def open_feedback_menu(update: Update, context: BotContext, action: OpenFeedbackMenu) -> None:
    async with conversation(update, context) as convo:
        if action.menu is FeedbackMenu.STRATEGIES:
            view = await pscreens.feedback_strategies(convo.session)
        elif action.menu is FeedbackMenu.ZONES:
            view = await pscreens.feedback_zones(convo.session)
        else:
            view = pscreens.feedback_menu()
    await query_of(update).answer()
    await show_in_place(update, view)


async def choose_subject(update: Update, context: BotContext, action: ChooseSubject) -> None:
    async def chosen(convo: Conversation) -> subjects.Subject | None:
        return await subjects.chosen(convo.session, action.kind, action.subject_id)

    await ask_about(update, context, chosen, _("This item no longer exists."))


def _replied_bot_message(message: Message, bot_id: int) -> int | None:
    """The bot message this one replies to; replies to the user's own messages do not count."""
    original = message.reply_to_message
    if original is None or original.from_user is None or original.from_user.id != bot_id:
        return None
    return original.message_id


async def on_text(update: Update, context: BotContext) -> None:
    message = message_of(update)
    text = required(message.text, "text")  # filters.TEXT
    reply_to = _replied_bot_message(message, context.bot.id)
    async with conversation(update, context) as convo:
        outcome = await participation.handle_text(
            convo.session, convo.subscriber, text, reply_to, utcnow()
        )
        view = await _view_for(convo, outcome)
    await reply(update, view)


async def _view_for(convo: Conversation, outcome: TextOutcome) -> View:
    if outcome.status is TextStatus.RECORDED and outcome.entry is not None:  # set if recorded
        name = outcome.subject.name(current_language()) if outcome.subject else None
        return View(pscreens.recorded(outcome.entry.reference, name, outcome.truncated))
    if outcome.status is TextStatus.NEEDS_CONSENT:
        return pscreens.consent_question(
            prompt_id=outcome.prompt_id,
            text_not_stored=True,
            refused_before=outcome.refused_before,
        )
    if outcome.status is TextStatus.UNKNOWN_COMUNE:
        return View(pscreens.unknown_comune())
    if outcome.status is TextStatus.PROFILE_UPDATED:
        return await profile_view(convo, _("Profile updated."), outcome.truncated)
    return pscreens.not_feedback()


async def profile_view(
    convo: Conversation, notice: str | None = None, truncated: bool = False
) -> View:
    participant = await participation.participant_of(convo.session, convo.subscriber)
    comune = await participation.comune_name(convo.session, participant.comune_istat)
    view = pscreens.profile(participant, comune)
    notes = [notice] if notice else []
    if truncated:
        notes.append(pscreens.too_long_note(MAX_ORGANISATION_CHARS))
    return View("\n\n".join([*notes, view.text]), view.keyboard)


async def on_media(update: Update, context: BotContext) -> None:
    async with conversation(update, context):
        text = pscreens.media_not_recorded()
    await reply(update, View(text))


async def on_forwarded(update: Update, context: BotContext) -> None:
    async with conversation(update, context):
        text = pscreens.forwarded_not_recorded()
    await reply(update, View(text))


async def on_edited(update: Update, context: BotContext) -> None:
    async with conversation(update, context):
        text = pscreens.edits_not_recorded()
    await reply(update, View(text))


def command_handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [CommandHandler(["feedback", "parere"], feedback_command, filters=private)]


def message_handlers() -> list:
    """Before the fallback: order matters (forwarded first, then non-text, then text)."""
    new = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return [
        MessageHandler(new & filters.FORWARDED, on_forwarded),
        MessageHandler(new & filters.ATTACHMENT, on_media),
        MessageHandler(new & filters.TEXT & ~filters.COMMAND, on_text),
        MessageHandler(
            filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE & ~filters.COMMAND,
            on_edited,
        ),
    ]
