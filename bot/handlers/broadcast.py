"""Staff broadcast wizard: /broadcast → text → audience → preview → now or later → confirm.

The draft lives in `context.user_data`; the confirmed broadcast's source_key comes from the
draft's token, so a stale or repeated confirmation never sends twice. /scheduled lists and
cancels broadcasts not yet sent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop, CommandHandler, MessageHandler, filters

from bot import callbacks
from bot.callbacks import BroadcastButton, CancelScheduled
from bot.db.models import Notification, TargetKind, utcnow
from bot.delivery.render import render_parts
from bot.handlers.context import BotContext, Conversation, conversation, reply, show_in_place
from bot.handlers.staff import is_staff, refused
from bot.i18n import _, current_language, format_datetime, format_number, use_locale
from bot.screens import View
from bot.services import broadcasts, outbox, plan, staff
from bot.services.broadcasts import Audience, BroadcastError

DRAFT_KEY = "broadcast_draft"
PROGRESS_INTERVAL_S = 1.0
_WAITING = ("pending", "held", "claimed", "sending")


@dataclass
class Draft:
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    step: str = "text"  # text → audience → when → time → confirm
    html: str = ""
    audience: Audience = field(default_factory=Audience)
    at: datetime | None = None


def _button(label: str, draft: Draft, step: str, value: str | None = None) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        label, callback_data=callbacks.broadcast_data(draft.token, step, value)
    )


def _cancel_row(draft: Draft) -> list[InlineKeyboardButton]:
    return [_button(_("✖ Cancel"), draft, "x")]


async def broadcast_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context) as convo:
        allowed = await is_staff(convo, update, context)
        if allowed:
            draft = Draft()
            context.user_data[DRAFT_KEY] = draft
            view = View(
                _("<b>New broadcast</b>\nSend me the text, with Telegram formatting if you like."),
                InlineKeyboardMarkup([_cancel_row(draft)]),
            )
        else:
            view = refused()
    await reply(update, view)


async def on_text(update: Update, context: BotContext) -> None:
    """Text typed while the wizard waits for it; anything else goes on to the other handlers."""
    draft: Draft | None = context.user_data.get(DRAFT_KEY)
    if draft is None or draft.step not in ("text", "time"):
        return
    async with conversation(update, context) as convo:
        if draft.step == "text":
            draft.html = update.effective_message.text_html
            draft.step = "audience"
            view = await _audience_view(convo, draft)
        else:
            view = await _time_given(convo, draft, update.effective_message.text or "")
    await reply(update, view)
    raise ApplicationHandlerStop


async def _time_given(convo: Conversation, draft: Draft, text: str) -> View:
    try:
        draft.at = broadcasts.parse_time(text, utcnow())
    except BroadcastError:
        return View(
            _("I need a future date and time as YYYY-MM-DD HH:MM (Rome time)."),
            InlineKeyboardMarkup([_cancel_row(draft)]),
        )
    draft.step = "confirm"
    return await _confirm_view(convo, draft)


async def _audience_view(convo: Conversation, draft: Draft) -> View:
    audience = draft.audience
    count = await broadcasts.count_recipients(convo.session, audience)

    def mark(chosen: bool, label: str) -> str:
        return f"✅ {label}" if chosen else label

    rows = [[_button(mark(audience.everyone, _("Everyone")), draft, "e")]]
    strategies = await plan.list_strategies(convo.session)
    rows += _in_rows(
        [
            _button(mark(("strategy", s.id) in audience.targets, s.id), draft, "s", s.id)
            for s in strategies
        ]
    )
    zones = await plan.list_zones(convo.session)
    rows += _in_rows(
        [
            _button(mark(("zone", z.id) in audience.targets, z.name), draft, "z", z.id)
            for z in zones
        ],
        per_row=3,
    )
    rows.append(
        [
            _button(mark(audience.language == code, label), draft, "l", code)
            for code, label in (("it", _("Italian only")), ("en", _("English only")))
        ]
    )
    rows.append([_button(_("Preview ▶"), draft, "ok"), *_cancel_row(draft)])
    text = _("<b>Audience</b>: choose who receives it.\nRecipients: {count}").format(
        count=format_number(count)
    )
    return View(text, InlineKeyboardMarkup(rows))


def _in_rows(buttons: list, per_row: int = 4) -> list[list]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


async def _confirm_view(convo: Conversation, draft: Draft) -> View:
    count = format_number(await broadcasts.count_recipients(convo.session, draft.audience))
    if draft.at is None:
        text = _("Send this broadcast now to {count} recipients?").format(count=count)
    else:
        text = _("Schedule this broadcast for {time} to {count} recipients?").format(
            time=format_datetime(draft.at, "short"), count=count
        )
    keyboard = [[_button(_("✔ Confirm"), draft, "go"), *_cancel_row(draft)]]
    return View(text, InlineKeyboardMarkup(keyboard))


def _when_view(draft: Draft) -> View:
    keyboard = [
        [_button(_("Send now"), draft, "now"), _button(_("Schedule"), draft, "at")],
        _cancel_row(draft),
    ]
    return View(
        _("Above is the preview, as recipients will see it."), InlineKeyboardMarkup(keyboard)
    )


async def on_button(update: Update, context: BotContext, action: BroadcastButton) -> None:
    draft: Draft | None = context.user_data.get(DRAFT_KEY)
    async with conversation(update, context) as convo:
        allowed = await is_staff(convo, update, context)
        if not allowed:
            alert = refused().text
        elif draft is None or draft.token != action.token:
            alert = await _stale_alert(convo, action)
        else:
            alert = None
            views = await _step(convo, context, draft, action)
    if alert is not None:
        await update.callback_query.answer(alert, show_alert=True)
        return
    await update.callback_query.answer()
    await _show(update, context, views)


async def _stale_alert(convo: Conversation, action: BroadcastButton) -> str:
    if action.step == "go" and await broadcasts.find(convo.session, action.token):
        return _("This broadcast has already been confirmed.")
    return _("This button is no longer valid.")


async def _step(convo: Conversation, context: BotContext, draft: Draft, action: BroadcastButton):
    """The views to show: (in place, then new messages)."""
    audience = draft.audience
    if action.step == "x":
        context.user_data.pop(DRAFT_KEY, None)
        return [View(_("Broadcast cancelled."))], []
    if action.step == "e":
        audience.everyone, audience.targets = not audience.everyone, set()
    elif action.step in ("s", "z") and action.value:
        kind = TargetKind.STRATEGY if action.step == "s" else TargetKind.ZONE
        audience.toggle(kind, action.value)
    elif action.step == "l":
        audience.language = None if audience.language == action.value else action.value
    elif action.step == "ok":
        return _preview(draft)
    elif action.step == "now":
        draft.at, draft.step = None, "confirm"
        return [await _confirm_view(convo, draft)], []
    elif action.step == "at":
        draft.step = "time"
        text = _("When? Send the date and time as YYYY-MM-DD HH:MM (Rome time).")
        return [View(text, InlineKeyboardMarkup([_cancel_row(draft)]))], []
    elif action.step == "go":
        return await _confirmed(convo, context, draft)
    return [await _audience_view(convo, draft)], []


def _preview(draft: Draft):
    if draft.audience.is_empty():
        return [View(_("Choose an audience first."))], []
    draft.step = "when"
    sample = Notification(template="text", payload={"html": draft.html}, tags=[])
    parts = [View(part) for part in render_parts(sample, current_language())]
    return [], [*parts, _when_view(draft)]


async def _confirmed(convo: Conversation, context: BotContext, draft: Draft):
    context.user_data.pop(DRAFT_KEY, None)
    notification, created = await broadcasts.enqueue(
        convo.session, draft.token, draft.html, draft.audience, draft.at
    )
    if created:
        staff.audit(
            convo.session,
            convo.subscriber.telegram_user_id,
            "broadcast",
            utcnow(),
            notification_id=notification.id,
            scheduled_for=draft.at.isoformat() if draft.at else None,
        )
    if draft.at is not None:
        text = _("Broadcast #{id} scheduled for {time}.").format(
            id=notification.id, time=format_datetime(draft.at, "short")
        )
        return [View(text)], []
    context.user_data["broadcast_progress"] = notification.id
    return [View(_("Broadcast #{id}: sending…").format(id=notification.id))], []


async def _show(update: Update, context: BotContext, views) -> None:
    in_place, new = views
    for view in in_place:
        await show_in_place(update, view)
    for view in new:
        await reply(update, view)
    notification_id = context.user_data.pop("broadcast_progress", None)
    if notification_id is not None:
        _follow_progress(context, update, notification_id)


def _follow_progress(context: BotContext, update: Update, notification_id: int) -> None:
    message = update.callback_query.message
    data = {
        "chat_id": message.chat_id,
        "message_id": message.message_id,
        "notification_id": notification_id,
        "language": current_language(),
    }
    context.job_queue.run_repeating(
        _progress, interval=PROGRESS_INTERVAL_S, first=PROGRESS_INTERVAL_S, data=data
    )


async def _progress(context: BotContext) -> None:
    """Edit the confirmation message with sent/total; the final figures when all is done."""
    data = context.job.data
    async with context.bot_data.db.transaction() as session:
        notification = await session.get(Notification, data["notification_id"])
        counts = await outbox.stats(session, data["notification_id"])
    if notification is None:
        context.job.schedule_removal()
        return
    waiting = sum(counts[state] for state in _WAITING)
    total = sum(v for k, v in counts.items() if k != "blocked")
    done = notification.targeted_at is not None and waiting == 0
    with use_locale(data["language"]):
        text = _progress_text(notification.id, counts, total, done)
    if done:
        context.job.schedule_removal()
    try:
        await context.bot.edit_message_text(
            text, chat_id=data["chat_id"], message_id=data["message_id"], parse_mode="HTML"
        )
    except BadRequest as error:
        if "message is not modified" not in error.message:
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
        lines.append(f"#{item.id} · {when} · {item.payload.get('title', '')}")
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
                    update.effective_user.id,
                    "cancel_broadcast",
                    utcnow(),
                    notification_id=action.notification_id,
                )
            view = _scheduled_view(await broadcasts.scheduled(convo.session, utcnow()))
    if not allowed:
        await update.callback_query.answer(refused().text, show_alert=True)
        return
    notice = _("Broadcast cancelled.") if cancelled else _("This broadcast is no longer scheduled.")
    await update.callback_query.answer(notice)
    await show_in_place(update, view)


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler(["broadcast", "annuncio"], broadcast_command, filters=private),
        CommandHandler(["scheduled", "programmati"], scheduled_command, filters=private),
    ]


def input_handlers() -> list:
    return [MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, on_text)]
