"""Staff broadcast wizard: /broadcast → text, photo or document → audience → preview → now or
later → confirm.

The draft is a database row (`services.broadcasts`), so a restart in the middle loses nothing;
its buttons carry its token, and the confirmed broadcast's source_key comes from that token,
so a stale or repeated confirmation never sends twice. /scheduled lists and cancels broadcasts
not yet sent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop, CommandHandler, MessageHandler, filters

from bot import callbacks
from bot.callbacks import BroadcastButton, CancelScheduled
from bot.config import SUPPORTED_LANGUAGES
from bot.db.models import BroadcastDraft, Notification, TargetKind, utcnow
from bot.delivery import render, sender
from bot.handlers.context import (
    BotContext,
    Conversation,
    MissingPart,
    chat_of,
    conversation,
    message_of,
    pressed_message,
    query_of,
    reply,
    required,
    show_in_place,
    user_of,
)
from bot.handlers.staff import is_staff, refused
from bot.i18n import _, current_language, format_datetime, use_locale
from bot.screens import View
from bot.screens import broadcast as broadcast_screens
from bot.screens.broadcast import Page
from bot.services import broadcasts, monitoring, outbox, plan, staff, subscriptions
from bot.services.broadcasts import Audience, BroadcastError, DraftStep, Media
from bot.services.subscriptions import Target, UnknownTarget
from bot.telegram_errors import is_not_modified

PROGRESS_INTERVAL_S = 1.0
_WAITING = ("pending", "held", "claimed", "sending")
_TARGET_STEPS = {
    "s": TargetKind.STRATEGY,
    "z": TargetKind.ZONE,
    "c": TargetKind.COMUNE,
    "a": TargetKind.ACTION,
}
# Buttons that need the preview to have been seen since the audience last changed.
_AFTER_PREVIEW = {
    "now": (DraftStep.WHEN, DraftStep.TIME, DraftStep.CONFIRM),
    "at": (DraftStep.WHEN, DraftStep.TIME, DraftStep.CONFIRM),
    "go": (DraftStep.CONFIRM,),
}


@dataclass
class Step:
    """What a button press shows: a view in place, new messages, or only an alert."""

    in_place: View | None = None
    new: list[View | render.Rendered] = field(default_factory=list)
    alert: str | None = None
    follow_progress: int | None = None


async def broadcast_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context) as convo:
        if await is_staff(convo, update, context):
            draft = await broadcasts.start_draft(convo.session, user_of(update).id, utcnow())
            view = View(
                broadcast_screens.compose(),
                InlineKeyboardMarkup([broadcast_screens.cancel_row(draft)]),
            )
        else:
            view = refused()
    await reply(update, view)


def _content(message: Message) -> tuple[str, Media | None] | None:
    """The broadcast's HTML and file from what the staff member sent."""
    if message.photo:
        return message.caption_html or "", Media("photo", message.photo[-1].file_id)
    if message.document:
        document = message.document
        media = Media("document", document.file_id, document.file_name)
        return message.caption_html or "", media
    if message.text:
        return message.text_html, None
    return None


async def _waiting_draft(context: BotContext, update: Update) -> bool:
    """Whether this person's draft waits for what they just sent (a cheap check first)."""
    message = message_of(update)
    async with context.bot_data.db.transaction() as session:
        draft = await broadcasts.load_draft(session, user_of(update).id, utcnow())
        step = draft.step if draft else None
    return step == DraftStep.TEXT or (step == DraftStep.TIME and bool(message.text))


async def on_input(update: Update, context: BotContext) -> None:
    """Text, photo or document sent while the wizard waits for it; anything else goes on."""
    if not await _waiting_draft(context, update):
        return
    message = message_of(update)
    async with conversation(update, context) as convo:
        draft = await broadcasts.load_draft(convo.session, user_of(update).id, utcnow())
        if draft is None:  # gone since the check above: as if the wizard was not waiting
            view = None
        elif draft.step == DraftStep.TEXT:
            view = await _composed(convo, draft, message)
        else:
            view = await _time_given(convo, draft, message.text or "")
    if view is None:
        return
    await reply(update, view)
    raise ApplicationHandlerStop


async def _composed(convo: Conversation, draft: BroadcastDraft, message: Message) -> View:
    # input_handlers() takes only text, photos and documents.
    html, media = required(_content(message), "text, photo or document")
    broadcasts.set_content(draft, html, media)
    draft.step = DraftStep.AUDIENCE.value
    return await broadcast_screens.audience_page(convo.session, draft)


async def _time_given(convo: Conversation, draft: BroadcastDraft, text: str) -> View:
    try:
        draft.send_at = broadcasts.parse_time(text, utcnow())
    except BroadcastError:
        return broadcast_screens.bad_time(draft)
    draft.step = DraftStep.CONFIRM.value
    return await broadcast_screens.confirm(convo.session, draft)


async def on_button(update: Update, context: BotContext, action: BroadcastButton) -> None:
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            step = Step(alert=refused().text)
        else:
            draft = await broadcasts.load_draft(convo.session, user_of(update).id, utcnow())
            if draft is None or draft.token != action.token:
                step = Step(alert=await _stale_alert(convo, action))
            else:
                step = await _step(convo, draft, action)
    query = query_of(update)
    if step.alert is not None:
        await query.answer(step.alert, show_alert=True)
        return
    await query.answer()
    await _show(update, context, step)


async def _stale_alert(convo: Conversation, action: BroadcastButton) -> str:
    if action.step == "go" and await broadcasts.find(convo.session, action.token):
        return _("This broadcast has already been confirmed.")
    return _("This button is no longer valid.")


async def _step(convo: Conversation, draft: BroadcastDraft, action: BroadcastButton) -> Step:
    session = convo.session
    if action.step == "x":
        await broadcasts.drop_draft(session, draft.author_id)
        return Step(in_place=View(_("Broadcast cancelled.")))
    if action.step in _AFTER_PREVIEW and draft.step not in _AFTER_PREVIEW[action.step]:
        return Step(alert=_("The audience changed: press Preview again."))
    if action.step == "ok":
        return _preview(draft)
    if action.step == "now":
        draft.send_at, draft.step = None, DraftStep.CONFIRM.value
        return Step(in_place=await broadcast_screens.confirm(session, draft))
    if action.step == "at":
        draft.step = DraftStep.TIME.value
        return Step(in_place=broadcast_screens.ask_time(draft))
    if action.step == "go":
        return await _confirmed(convo, draft)
    return await _audience_step(session, draft, action)


async def _audience_step(
    session: AsyncSession, draft: BroadcastDraft, action: BroadcastButton
) -> Step:
    """A choice or a page of the audience; any change asks for the preview again."""
    audience = broadcasts.audience_of(draft)
    page, value = Page.MAIN, None
    if action.step in (Page.COMUNI, Page.ACTIONS, Page.CATEGORIES):
        page, value = Page(action.step), action.value
    elif action.step == "e":
        audience.toggle_everyone()
    elif action.step == "l" and action.value in SUPPORTED_LANGUAGES:
        audience.toggle_language(action.value)
    elif action.step == "k" and action.value:
        try:
            audience.toggle_category(action.value)
        except BroadcastError:
            return Step(alert=_("This button is no longer valid."))
        page = Page.CATEGORIES
    elif action.step in _TARGET_STEPS and action.value:
        kind = _TARGET_STEPS[action.step]
        shown, value = await _toggle_target(session, audience, kind, action.value)
        if shown is None:
            return Step(alert=_("This button is no longer valid."))
        page = shown
    if broadcasts.audience_of(draft) != audience:
        broadcasts.set_audience(draft, audience)
        draft.step = DraftStep.AUDIENCE.value
    in_place = await broadcast_screens.audience_page(session, draft, page, value)
    return Step(in_place=in_place)


async def _toggle_target(
    session: AsyncSession, audience: Audience, kind: TargetKind, target_id: str
) -> tuple[Page | None, str | None]:
    """Toggle a strategy, zone, comune or action; the page to show again (None: unknown)."""
    try:
        await subscriptions.describe_target(session, Target(kind, target_id))
    except UnknownTarget:
        return None, None
    audience.toggle(kind, target_id)
    # Both exist: describe_target has just found them.
    if kind is TargetKind.COMUNE:
        comune = await plan.get_comune(session, target_id)
        return Page.COMUNI, comune.zone_id if comune else None
    if kind is TargetKind.ACTION:
        action = await monitoring.get_action(session, target_id)
        return Page.ACTIONS, action.strategy_id if action else None
    return Page.MAIN, None


def _preview(draft: BroadcastDraft) -> Step:
    audience = broadcasts.audience_of(draft)
    if audience.is_empty():
        return Step(alert=_("Choose an audience first."))
    draft.step = DraftStep.WHEN.value
    new = broadcasts.new_broadcast(
        draft.token, draft.html, audience, media=broadcasts.media_of(draft)
    )
    sample = Notification(template=new.template, payload=new.payload, tags=[])
    shown = render.render_single(sample, 0, current_language())
    # The feedback buttons carry a delivery: recipients get theirs, the preview none.
    return Step(new=[dataclasses.replace(shown, buttons=[]), broadcast_screens.when(draft)])


async def _confirmed(convo: Conversation, draft: BroadcastDraft) -> Step:
    send_at = draft.send_at
    notification, created = await broadcasts.confirm(convo.session, draft)
    if created:
        staff.audit(
            convo.session,
            convo.subscriber.telegram_user_id,
            "broadcast",
            utcnow(),
            notification_id=notification.id,
            scheduled_for=send_at.isoformat() if send_at else None,
        )
    if send_at is not None:
        text = _("Broadcast #{id} scheduled for {time}.").format(
            id=notification.id, time=format_datetime(send_at, "short")
        )
        return Step(in_place=View(text))
    text = _("Broadcast #{id}: sending…").format(id=notification.id)
    return Step(in_place=View(text), follow_progress=notification.id)


async def _show(update: Update, context: BotContext, step: Step) -> None:
    if step.in_place is not None:
        await show_in_place(update, step.in_place)
    for item in step.new:
        if isinstance(item, View):
            await reply(update, item)
        else:
            await sender.show(context.bot, chat_of(update).id, item)
    if step.follow_progress is not None:
        _follow_progress(context, update, step.follow_progress)


@dataclass
class _Progress:
    """The data of the job following a broadcast being sent (see `_progress`)."""

    chat_id: int
    message_id: int
    notification_id: int
    language: str
    shown: str | None = None  # the text of the last edit


def _follow_progress(context: BotContext, update: Update, notification_id: int) -> None:
    message = pressed_message(update)
    data = _Progress(message.chat.id, message.message_id, notification_id, current_language())
    job_queue = context.job_queue
    if job_queue is None:  # the running bot always has one: its repeating jobs need it too
        raise MissingPart("job_queue")
    job_queue.run_repeating(
        _progress, interval=PROGRESS_INTERVAL_S, first=PROGRESS_INTERVAL_S, data=data
    )


async def _progress(context: BotContext) -> None:
    """Edit the confirmation message with sent/total; the final figures when all is done."""
    job = required(context.job, "job")
    data = job.data
    if not isinstance(data, _Progress):
        raise TypeError(f"not a broadcast's progress: {data!r}")
    async with context.bot_data.db.transaction() as session:
        notification = await session.get(Notification, data.notification_id)
        counts = await outbox.stats(session, data.notification_id)
    if notification is None:
        job.schedule_removal()
        return
    waiting = sum(counts[state] for state in _WAITING)
    total = sum(v for k, v in counts.items() if k != "blocked")
    done = notification.targeted_at is not None and waiting == 0
    with use_locale(data.language):
        text = _progress_text(notification.id, counts, total, done)
    if done:
        job.schedule_removal()
    if text == data.shown:
        return  # figures unchanged since the last edit: Telegram would answer "not modified"
    data.shown = text
    try:
        await context.bot.edit_message_text(
            text, chat_id=data.chat_id, message_id=data.message_id, parse_mode="HTML"
        )
    except BadRequest as error:
        if not is_not_modified(error):
            raise


def _progress_text(notification_id: int, counts: dict[str, int], total: int, done: bool) -> str:
    figures = {"id": notification_id, "sent": counts["sent"], "total": total}
    if not done:
        return _("Broadcast #{id}: sending… {sent}/{total}").format(**figures)
    return _(
        "Broadcast #{id} sent: {sent}/{total} delivered, {failed} failed "
        "({blocked} blocked the bot), {skipped} skipped."
    ).format(
        failed=counts["failed"], blocked=counts["blocked"], skipped=counts["skipped"], **figures
    )


async def scheduled_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context) as convo:
        if await is_staff(convo, update, context):
            view = _scheduled_view(await broadcasts.scheduled(convo.session, utcnow()))
        else:
            view = refused()
    await reply(update, view)


def _scheduled_view(items: list[Notification]) -> View:
    if not items:
        return View(_("No broadcast is scheduled."))
    lines, rows = [_("<b>Scheduled broadcasts</b>")], []
    for item in items:
        when = format_datetime(item.not_before, "short")
        attached = "📎 " if item.payload.get("media") else ""
        lines.append(f"#{item.id} · {when} · {attached}{item.payload.get('title', '')}")
        label = _("✖ Cancel #{id}").format(id=item.id)
        rows.append(
            [InlineKeyboardButton(label, callback_data=callbacks.cancel_scheduled_data(item.id))]
        )
    return View("\n".join(lines), InlineKeyboardMarkup(rows))


async def cancel_scheduled(update: Update, context: BotContext, action: CancelScheduled) -> None:
    async with conversation(update, context) as convo:
        allowed = await is_staff(convo, update, context)
        if allowed:
            cancelled = await broadcasts.cancel(convo.session, action.notification_id)
            if cancelled:
                staff.audit(
                    convo.session,
                    user_of(update).id,
                    "cancel_broadcast",
                    utcnow(),
                    notification_id=action.notification_id,
                )
            view = _scheduled_view(await broadcasts.scheduled(convo.session, utcnow()))
    if not allowed:
        await query_of(update).answer(refused().text, show_alert=True)
        return
    notice = _("Broadcast cancelled.") if cancelled else _("This broadcast is no longer scheduled.")
    await query_of(update).answer(notice)
    await show_in_place(update, view)


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler(["broadcast", "annuncio"], broadcast_command, filters=private),
        CommandHandler(["scheduled", "programmati"], scheduled_command, filters=private),
    ]


def input_handlers() -> list:
    """Before every other handler group: what the wizard waits for (text, photo, document)."""
    composed = (filters.TEXT & ~filters.COMMAND) | filters.PHOTO | filters.Document.ALL
    return [MessageHandler(filters.ChatType.PRIVATE & composed, on_input)]
