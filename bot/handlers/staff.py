"""Staff commands: /deliveries, and /staff (administrators grant and revoke staff rights,
and read the audit log with /staff log [N]).

Who is staff is decided by `bot.services.staff`: the administrators of ADMIN_IDS and whoever
they granted, by user id or by a one-time invite link.
"""

from __future__ import annotations

import json
from html import escape

from telegram import Update
from telegram.ext import CommandHandler, filters
from telegram.helpers import create_deep_linked_url

from bot.db.models import StaffAction, utcnow
from bot.delivery.render import title_of
from bot.handlers.context import (
    BotContext,
    Conversation,
    command_args,
    conversation,
    reply,
    user_of,
)
from bot.i18n import _, current_language, format_datetime, format_number
from bot.screens import View
from bot.services import outbox, staff
from bot.services.staff import InviteOutcome
from feeds.telegram_html import split_html

LOG_DEFAULT = 20
LOG_MAX = 100
DETAIL_MAX_CHARS = 80


async def is_staff(convo: Conversation, update: Update, context: BotContext) -> bool:
    admin_ids = context.bot_data.settings.admin_ids
    return await staff.is_staff(convo.session, user_of(update).id, admin_ids)


def refused() -> View:
    return View(_("This command is reserved to the staff of the plan's office."))


async def reply_in_pieces(update: Update, view: View) -> None:
    """A long answer (the audit log, an import report) in as many messages as it needs."""
    pieces = split_html(view.text) or [view.text]
    for index, piece in enumerate(pieces, start=1):
        await reply(update, View(piece, view.keyboard if index == len(pieces) else None))


async def deliveries_command(update: Update, context: BotContext) -> None:
    """/deliveries [ID]: delivery figures of one notification, or of the latest five."""
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = refused()
        else:
            view = await _deliveries_view(convo.session, command_args(context))
    await reply(update, view)


async def _deliveries_view(session, args: list[str]) -> View:
    if args and not args[0].isdigit():
        return View(_("Usage: /deliveries [notification number]"))
    if args:
        notifications = await outbox.load_notifications(session, [int(args[0])])
        items = list(notifications.values())
        if not items:
            return View(_("There is no notification number {id}.").format(id=escape(args[0])))
    else:
        items = await outbox.recent_notifications(session)
    if not items:
        return View(_("No notification has been sent yet."))
    blocks = [_("<b>Deliveries</b>")]
    for notification in items:
        counts = await outbox.stats(session, notification.id)
        title = escape(title_of(notification, current_language()))
        blocks.append(
            "\n".join(
                [
                    f"\n<b>#{notification.id}</b> {title}",
                    format_datetime(notification.created_at, "short"),
                    _(
                        "sent {sent} · pending {pending} · failed {failed} (blocked {blocked}) · "
                        "skipped {skipped} · in doubt {in_doubt}"
                    ).format(**{k: format_number(v) for k, v in _waiting_merged(counts).items()}),
                ]
            )
        )
    return View("\n".join(blocks))


def _waiting_merged(counts: dict[str, int]) -> dict[str, int]:
    """Held (digest) and claimed rows are still waiting, as far as staff are concerned."""
    merged = dict(counts)
    merged["pending"] = counts["pending"] + counts["held"] + counts["claimed"] + counts["sending"]
    return merged


async def staff_command(update: Update, context: BotContext) -> None:
    """/staff list | grant ID | revoke ID | invite | log [N] — administrators only."""
    args = command_args(context)
    async with conversation(update, context) as convo:
        actor = user_of(update).id
        if not await is_staff(convo, update, context):
            view = refused()
        elif not staff.is_admin(actor, context.bot_data.settings.admin_ids):
            view = View(_("Only the administrators can manage the staff."))
        else:
            view = await _staff_view(convo, args, actor, context.bot.username)
    await reply_in_pieces(update, view)


async def _staff_view(convo: Conversation, args: list[str], actor: int, bot_name: str) -> View:
    session, now = convo.session, utcnow()
    action = args[0] if args else "list"
    if action == "list" and len(args) <= 1:
        return _staff_list(await staff.list_staff(session))
    if action == "invite" and len(args) == 1:
        invite = await staff.create_invite(session, actor, now)
        link = create_deep_linked_url(bot_name, staff.INVITE_PREFIX + invite.code)
        text = _(
            "One-time staff invite, valid until {time}:\n{link}\n"
            "Whoever opens it first becomes staff."
        )
        return View(text.format(time=format_datetime(invite.expires_at, "short"), link=link))
    if action in ("grant", "revoke") and len(args) == 2 and args[1].isdigit():
        return await _grant_or_revoke(session, action, actor, int(args[1]), now)
    if action == "log" and len(args) <= 2:
        limit = _log_limit(args[1] if len(args) == 2 else None)
        if limit is not None:
            return _log_view(await staff.audit_log(session, limit))
    return View(
        _(
            "Usage: /staff list | /staff grant USER_ID | /staff revoke USER_ID | "
            "/staff invite | /staff log [N]"
        )
    )


def _log_limit(arg: str | None) -> int | None:
    """How many entries: LOG_DEFAULT without N, at most LOG_MAX; None when N is not a count."""
    if arg is None:
        return LOG_DEFAULT
    if not (arg.isascii() and arg.isdigit()) or int(arg) == 0:
        return None
    return min(int(arg), LOG_MAX)


def _log_view(actions: list[StaffAction]) -> View:
    if not actions:
        return View(_("The audit log is empty."))
    lines = [_("<b>Audit log</b>, newest first")]
    for row in actions:
        parts = [format_datetime(row.created_at, "short"), str(row.actor_id), escape(row.action)]
        details = _compact(row.details or {})
        if details:
            parts.append(escape(details))
        lines.append(" · ".join(parts))
    return View("\n".join(lines))


def _compact(details: dict) -> str:
    """`key=value, …` on one line; long values are cut."""
    pairs = []
    for key, value in details.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = " ".join(text.split())
        if len(text) > DETAIL_MAX_CHARS:
            text = text[: DETAIL_MAX_CHARS - 1] + "…"
        pairs.append(f"{key}={text}")
    return ", ".join(pairs)


async def _grant_or_revoke(session, action: str, actor: int, user_id: int, now) -> View:
    if action == "grant":
        changed = await staff.grant(session, actor, user_id, now)
        text = _("{id} is now staff.") if changed else _("{id} was already staff.")
    else:
        changed = await staff.revoke(session, actor, user_id, now)
        text = _("{id} is no longer staff.") if changed else _("{id} was not staff.")
    return View(text.format(id=user_id))


def _staff_list(members) -> View:
    if not members:
        return View(_("No staff member has been granted yet (administrators are always staff)."))
    lines = [_("<b>Staff</b>")]
    for member in members:
        since = format_datetime(member.granted_at, "short")
        lines.append(
            _("• {id}, since {time} (granted by {by})").format(
                id=member.telegram_user_id, time=since, by=member.granted_by
            )
        )
    return View("\n".join(lines))


async def accept_invite(convo: Conversation, code: str) -> str:
    """The text answering `/start staff_<code>`."""
    user_id = convo.subscriber.telegram_user_id
    outcome = await staff.accept_invite(convo.session, code, user_id, utcnow())
    return {
        InviteOutcome.ACCEPTED: _("Welcome to the staff of the plan's office."),
        InviteOutcome.UNKNOWN: _("This staff invite is not valid."),
        InviteOutcome.USED: _("This staff invite has already been used."),
        InviteOutcome.EXPIRED: _("This staff invite has expired."),
    }[outcome]


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler(["deliveries", "consegne"], deliveries_command, filters=private),
        CommandHandler("staff", staff_command, filters=private),
    ]
