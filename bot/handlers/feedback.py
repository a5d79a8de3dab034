"""Quick feedback buttons under delivered notifications."""

from __future__ import annotations

from telegram import Update

from bot.callbacks import Feedback, Reaction
from bot.db.models import utcnow
from bot.handlers.context import BotContext, conversation
from bot.i18n import _
from bot.services import outbox
from bot.services.outbox import ReactionResult


async def on_feedback(update: Update, context: BotContext, action: Feedback) -> None:
    query = update.callback_query
    async with conversation(update, context) as convo:
        result, _delivery = await outbox.record_reaction(
            convo.session,
            action.delivery_id,
            update.effective_user.id,
            action.reaction.value,
            utcnow(),
        )
    if result is ReactionResult.UNKNOWN:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    if action.reaction is Reaction.COMMENT:
        await query.answer(
            _("To comment, reply to this message with your text."),
            show_alert=True,
        )
        return
    await query.answer(_("Thank you for your feedback!"))
