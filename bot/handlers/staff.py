"""Staff commands. For now staff are the administrators listed in ADMIN_IDS."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.delivery.render import title_of
from bot.handlers.context import BotContext, conversation, reply
from bot.i18n import _, current_language, format_datetime, format_number
from bot.screens import View
from bot.services import outbox


def is_staff(update: Update, context: BotContext) -> bool:
    return update.effective_user.id in context.bot_data.settings.admin_ids


async def deliveries_command(update: Update, context: BotContext) -> None:
    """/deliveries [ID]: delivery figures of one notification, or of the latest five."""
    async with conversation(update, context) as convo:
        if not is_staff(update, context):
            view = View(_("This command is reserved to the staff of the plan's office."))
        else:
            view = await _deliveries_view(convo.session, context.args)
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


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [CommandHandler(["deliveries", "consegne"], deliveries_command, filters=private)]
