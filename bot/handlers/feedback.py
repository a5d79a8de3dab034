"""Feedback under notifications (👍 👎 💬), the consent question, and comment prompts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot.callbacks import Consent, Feedback, FeedbackItem, Reaction
from bot.db.models import PromptPurpose, utcnow
from bot.delivery import render
from bot.handlers.context import (
    BotContext,
    Conversation,
    chat_of,
    conversation,
    pressed_message,
    query_of,
    reply,
    show_in_place,
)
from bot.i18n import _, current_language
from bot.labels import shorten
from bot.screens import View
from bot.screens import participation as pscreens
from bot.services import participation, subjects
from bot.services.participation import CommentRequest, ReactionOutcome, ReactionStatus
from bot.telegram_errors import is_not_modified

CALLBACK_ANSWER_CHARS = 200


async def on_feedback(update: Update, context: BotContext, action: Feedback) -> None:
    if action.reaction is Reaction.COMMENT:
        await _comment_on_delivery(update, context, action.delivery_id)
        return
    async with conversation(update, context) as convo:
        outcome = await participation.react(
            convo.session, convo.subscriber, action.delivery_id, action.reaction.value, utcnow()
        )
    query = query_of(update)
    if outcome.status is ReactionStatus.UNKNOWN:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    await query.answer(_reaction_answer(outcome))
    if outcome.ask_consent:
        await reply(update, pscreens.consent_question())


async def on_feedback_item(update: Update, context: BotContext, action: FeedbackItem) -> None:
    """A number under a grouped message: that item's 👍 👎 💬 appear in place, above the
    numbers, and its title is shown briefly."""
    query = query_of(update)
    pressed = pressed_message(update)
    async with conversation(update, context) as convo:
        items = await subjects.items_of_message(
            convo.session, convo.subscriber.id, pressed.chat.id, pressed.message_id
        )
    pairs = [(delivery.id, notification) for delivery, notification in items]
    number = next((n for n, (d, _n) in enumerate(pairs, start=1) if d == action.delivery_id), 0)
    if not number or not pairs[number - 1][1].with_feedback:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    title = render.title_of(pairs[number - 1][1], current_language())
    await query.answer(shorten(f"{number}. {title}", CALLBACK_ANSWER_CHARS))
    rows = render.group_buttons(pairs, selected=action.delivery_id)
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )
    try:
        await query.edit_message_reply_markup(reply_markup=keyboard)
    except BadRequest as error:
        if not is_not_modified(error):  # the same item pressed twice
            raise


def _reaction_answer(outcome: ReactionOutcome) -> str:
    if outcome.status is ReactionStatus.CHANGED:
        text = _("Feedback changed. Reference {reference}")
    elif outcome.status is ReactionStatus.UNCHANGED:
        text = _("Already recorded. Reference {reference}")
    else:
        text = _("Thank you for your feedback! Reference {reference}")
    return text.format(reference=outcome.reference)


async def _comment_on_delivery(update: Update, context: BotContext, delivery_id: int) -> None:
    async def owned_delivery(convo: Conversation) -> subjects.Subject | None:
        return await subjects.of_owned_delivery(convo.session, convo.subscriber.id, delivery_id)

    await ask_about(update, context, owned_delivery, _("This button is no longer valid."))


async def ask_about(
    update: Update,
    context: BotContext,
    find_subject: Callable[[Conversation], Awaitable[subjects.Subject | None]],
    missing_text: str,
) -> None:
    """A button chose what to comment on: ask for the comment (or consent first)."""
    async with conversation(update, context) as convo:
        subject = await find_subject(convo)
        if subject is not None:
            request = await participation.ask_for_comment(
                convo.session, convo.subscriber, subject, utcnow()
            )
            name = subject.name(current_language())
    if subject is None:
        await query_of(update).answer(missing_text, show_alert=True)
        return
    await query_of(update).answer()
    await ask_comment_or_consent(update, context, request, name)


async def ask_comment_or_consent(
    update: Update, context: BotContext, request: CommentRequest, subject_name: str
) -> None:
    if request.consent_needed:
        view = pscreens.consent_question(
            prompt_id=request.prompt_id, refused_before=request.refused_before
        )
        await reply(update, view)
        return
    await send_prompt(update, context, request.prompt_id, pscreens.comment_prompt(subject_name))


async def send_prompt(update: Update, context: BotContext, prompt_id: int, text: str) -> None:
    """Ask with a ForceReply, so the answer comes as a reply to this very message."""
    message = await chat_of(update).send_message(
        text,
        parse_mode="HTML",
        reply_markup=ForceReply(input_field_placeholder=_("Your answer")),
    )
    async with context.bot_data.db.transaction() as session:
        await participation.attach_prompt_message(session, prompt_id, message.message_id, utcnow())


async def on_consent(update: Update, context: BotContext, action: Consent) -> None:
    async with conversation(update, context) as convo:
        outcome = await participation.answer_consent(
            convo.session, convo.subscriber, action.given, action.prompt_id, utcnow()
        )
        question = _question_for(outcome.prompt, outcome.subject)
    await query_of(update).answer()
    if outcome.given:
        text = pscreens.consent_given()
    elif outcome.withdrawn:
        text = pscreens.consent_withdrawn()
    else:
        text = pscreens.consent_refused()
    await show_in_place(update, View(text))
    if outcome.prompt is not None and question is not None:  # a question comes with a prompt
        await send_prompt(update, context, outcome.prompt.id, question)


def _question_for(prompt, subject) -> str | None:
    if prompt is None:
        return None
    if prompt.purpose == PromptPurpose.ORGANISATION:
        return pscreens.organisation_prompt()
    if prompt.purpose == PromptPurpose.COMUNE:
        return pscreens.comune_prompt()
    return pscreens.comment_prompt(subject.name(current_language()) if subject else None)
