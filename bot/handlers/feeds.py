"""Staff manage feeds from Telegram.

/feeds lists them with status and last error; /feeds add URL [zone=… strategy=…],
/feeds pause|resume|remove ID.
"""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.db.models import Feed, utcnow
from bot.handlers.context import BotContext, Conversation, conversation, reply
from bot.handlers.staff import is_staff, refused
from bot.i18n import _, format_datetime
from bot.screens import View
from bot.services import feed_registry, staff
from bot.services.feed_registry import FeedError, FeedSpec


async def feeds_command(update: Update, context: BotContext) -> None:
    args = context.args or []
    async with conversation(update, context) as convo:
        if not await is_staff(convo, update, context):
            view = refused()
        else:
            try:
                view = await _feeds_action(convo, args)
            except FeedError as error:
                view = View(_("Not done: {reason}").format(reason=escape(str(error))))
    await reply(update, view)


async def _feeds_action(convo: Conversation, args: list[str]) -> View:
    session, now, actor = convo.session, utcnow(), convo.subscriber.telegram_user_id
    action = args[0] if args else "list"
    if action == "list" and len(args) <= 1:
        return _feed_list(await feed_registry.list_feeds(session))
    if action == "add" and len(args) >= 2:
        feed = await feed_registry.add_feed(session, _spec(args[1], args[2:]), now=now)
        staff.audit(session, actor, "feed_add", now, feed_id=feed.id, url=feed.url)
        return View(_("Feed #{id} added: {url}").format(id=feed.id, url=escape(feed.url)))
    if action in ("pause", "resume", "remove") and len(args) == 2 and args[1].isdigit():
        feed_id = int(args[1])
        if action == "pause":
            await feed_registry.pause_feed(session, feed_id, now=now)
            text = _("Feed #{id} paused.")
        elif action == "resume":
            await feed_registry.resume_feed(session, feed_id, now=now)
            text = _("Feed #{id} resumed.")
        else:
            await feed_registry.remove_feed(session, feed_id)
            text = _("Feed #{id} removed.")
        staff.audit(session, actor, f"feed_{action}", now, feed_id=feed_id)
        return View(text.format(id=feed_id))
    return View(
        _(
            "Usage: /feeds [list] | /feeds add URL [zone=ID] [strategy=ID] | "
            "/feeds pause ID | /feeds resume ID | /feeds remove ID"
        )
    )


def _spec(url: str, options: list[str]) -> FeedSpec:
    pairs = [option.partition("=") for option in options]
    if any(not value or name not in ("zone", "strategy") for name, _eq, value in pairs):
        raise FeedError(_("the options are zone=ID and strategy=ID"))
    return FeedSpec(
        url=url,
        zones=tuple(value for name, _eq, value in pairs if name == "zone"),
        strategies=tuple(value.upper() for name, _eq, value in pairs if name == "strategy"),
    )


def _feed_list(feeds: list[Feed]) -> View:
    if not feeds:
        return View(_("No feed is registered. Add one with /feeds add URL"))
    lines = [_("<b>Feeds</b>")]
    for feed in feeds:
        status = _("paused") if feed.paused else _("active")
        polled = format_datetime(feed.last_polled_at, "short") if feed.last_polled_at else "—"
        line = f"#{feed.id} {escape(feed.title or feed.url)} · {status} · {polled}"
        if feed.last_error:
            line += "\n   " + _("last error: {error}").format(error=escape(feed.last_error))
        lines.append(line)
    return View("\n".join(lines))


def handlers() -> list:
    return [CommandHandler(["feeds", "fonti"], feeds_command, filters.ChatType.PRIVATE)]
