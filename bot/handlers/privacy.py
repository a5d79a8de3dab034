"""/privacy, /mydata, /forget and /profile: the participant's rights and declared profile."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.callbacks import ConfirmForget, EditProfile, ProfileField
from bot.db.models import PromptPurpose, utcnow
from bot.handlers.context import (
    BotContext,
    chat_of,
    conversation,
    query_of,
    reply,
    show_in_place,
)
from bot.handlers.feedback import send_prompt
from bot.handlers.participation import profile_view
from bot.i18n import _
from bot.screens import View
from bot.screens import participation as pscreens
from bot.services import participation, privacy

MY_DATA_FILE = "psm-bot-my-data.json"


async def privacy_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context) as convo:
        participant = await participation.find_participant(convo.session, convo.subscriber)
        view = pscreens.privacy_notice(privacy.contact_email(), participant)
    await reply(update, view)


async def my_data_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context) as convo:
        data = await privacy.my_data(convo.session, convo.subscriber, utcnow())
        caption = pscreens.my_data_caption()
    await chat_of(update).send_document(
        document=privacy.my_data_json(data), filename=MY_DATA_FILE, caption=caption
    )


async def forget_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context):
        view = pscreens.forget_confirmation()
    await reply(update, view)


async def confirm_forget(update: Update, context: BotContext, action: ConfirmForget) -> None:
    async with conversation(update, context) as convo:
        if action.confirmed:
            text = pscreens.forgotten(await privacy.forget(convo.session, convo.subscriber))
        else:
            text = _("All right: nothing has changed.")
    await query_of(update).answer()
    await show_in_place(update, View(text))


async def profile_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context) as convo:
        participant = await participation.participant_of(convo.session, convo.subscriber)
        if participation.has_consent(participant):
            view = await profile_view(convo)
        else:
            view = pscreens.consent_question()
    await reply(update, view)


_QUESTIONS = {
    ProfileField.ORGANISATION: (PromptPurpose.ORGANISATION, pscreens.organisation_prompt),
    ProfileField.COMUNE: (PromptPurpose.COMUNE, pscreens.comune_prompt),
}


@dataclass(frozen=True)
class _Question:
    prompt_id: int
    text: str


async def edit_profile(update: Update, context: BotContext, action: EditProfile) -> None:
    query = query_of(update)
    async with conversation(update, context) as convo:
        participant = await participation.participant_of(convo.session, convo.subscriber)
        consented = participation.has_consent(participant)
        if consented:
            step = await _profile_step(convo, participant, action)
    if not consented:
        await query.answer(_("First, please answer the consent question."), show_alert=True)
        await reply(update, pscreens.consent_question())
        return
    await query.answer()
    if isinstance(step, _Question):
        await send_prompt(update, context, step.prompt_id, step.text)
    else:
        await show_in_place(update, step)


async def _profile_step(convo, participant, action: EditProfile) -> View | _Question:
    if action.field in _QUESTIONS:
        purpose, question = _QUESTIONS[action.field]
        prompt = await participation.open_prompt(convo.session, convo.subscriber, purpose)
        return _Question(prompt.id, question())
    if action.field is ProfileField.CATEGORY and action.value is None:
        return pscreens.category_choice(participant.category)
    if action.value is not None:
        participation.set_category(participant, action.value)
    return await profile_view(convo)


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("privacy", privacy_command, filters=private),
        CommandHandler(["mydata", "imieidati"], my_data_command, filters=private),
        CommandHandler(["forget", "dimenticami"], forget_command, filters=private),
        CommandHandler(["profile", "profilo"], profile_command, filters=private),
    ]
