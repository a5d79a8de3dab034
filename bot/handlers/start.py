"""/start (with deep links), /help (/aiuto), /language (/lingua) and the language buttons."""

from __future__ import annotations

from html import escape

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.ext import CommandHandler, filters

from bot.callbacks import ChooseLanguage
from bot.db.models import TargetKind
from bot.handlers import staff
from bot.handlers.context import (
    BotContext,
    chat_of,
    command_args,
    conversation,
    query_of,
    reply,
    show_in_place,
    user_of,
)
from bot.i18n import _, current_language, set_locale, use_locale
from bot.screens import View
from bot.screens import following as following_screens
from bot.services import staff as staff_roles
from bot.services import subscriptions
from bot.services.subscriptions import Change, UnknownTarget


async def start(update: Update, context: BotContext) -> None:
    args = command_args(context)
    payload = args[0] if args else None
    notice = None
    async with conversation(update, context) as convo:
        welcome = following_screens.welcome(user_of(update).first_name, returning=not convo.is_new)
        invite_code = staff_roles.invite_code(payload) if payload else None
        if invite_code:
            notice = await staff.accept_invite(convo, invite_code)
        elif payload:
            notice = await _follow_from_link(convo, payload)
    if notice:
        await reply(update, View(notice))
    await reply(update, welcome)


async def _follow_from_link(convo, payload: str) -> str:
    target = subscriptions.parse_deep_link(payload)
    if target is None:
        return _("This link is not valid. Choose below what to follow.")
    try:
        item = await subscriptions.describe_target(convo.session, target)
        change = await subscriptions.subscribe(convo.session, convo.subscriber, target)
    except UnknownTarget:
        if target.kind is TargetKind.ACTION:
            return _(
                "The action {code} is not among the plan's monitored actions (any more). "
                "Send /piano to browse them."
            ).format(code=escape(target.id))
        return _(
            "This link points to something that no longer exists. Choose below what to follow."
        )
    name = escape(item.name(current_language()))
    if change is Change.ALREADY:
        return _("You already follow <b>{name}</b>.").format(name=name)
    if target.kind is TargetKind.ACTION:
        return _(
            "Done: you now follow the action <b>{name}</b>. You will receive its updates here; "
            "/piano {code} shows its card."
        ).format(name=name, code=escape(target.id))
    return _("Done: you now follow <b>{name}</b>. You will receive its updates here.").format(
        name=name
    )


async def help_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context):
        view = following_screens.help_text()
    await reply(update, view)


async def language_command(update: Update, context: BotContext) -> None:
    async with conversation(update, context):
        view = following_screens.language_choice()
    await reply(update, view)


async def choose_language(update: Update, context: BotContext, action: ChooseLanguage) -> None:
    async with conversation(update, context) as convo:
        subscriptions.set_language(convo.subscriber, action.language)
    set_locale(action.language)
    await query_of(update).answer(
        _("Language: English") if action.language == "en" else _("Language: Italian")
    )
    await show_in_place(
        update,
        View(
            _("Language set.") + "\n\n" + following_screens.main_menu().text,
            following_screens.main_menu_keyboard(),
        ),
    )
    await _set_chat_commands(context, chat_of(update).id, action.language)


async def _set_chat_commands(context: BotContext, chat_id: int, language: str) -> None:
    """The command menu of this chat follows the language chosen in the bot."""
    with use_locale(language):
        commands = [
            BotCommand(name, description) for name, description in following_screens.command_menu()
        ]
    await context.bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id))


def handlers() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("start", start, filters=private),
        CommandHandler(["help", "aiuto"], help_command, filters=private),
        CommandHandler(["language", "lingua"], language_command, filters=private),
    ]
