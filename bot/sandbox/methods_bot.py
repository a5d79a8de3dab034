"""Handlers for the bot itself: identity, updates, webhook, commands, profile texts."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

from .context import CallInfo, Handler, SandboxContext, require_length
from .errors import ApiError, bad_request
from .sync import wait_until
from .updates import MAX_BATCH
from .webhook import WebhookConfig

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE_CODE = re.compile(r"^([a-z]{2})?$")
MAX_COMMANDS = 100
MAX_COMMAND_DESCRIPTION = 256
PROFILE_TEXT_LIMITS = {"name": 64, "description": 512, "short_description": 120}
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


async def get_me(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    return {
        **ctx.world.bot.to_json(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


async def always_true(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    return True


async def get_updates(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    if ctx.webhook.active:
        raise ApiError(409, WEBHOOK_CONFLICT)
    queue = ctx.queue
    if "allowed_updates" in params:
        queue.set_allowed(params["allowed_updates"])
    if params.get("offset"):
        queue.confirm(params["offset"])
    limit = min(max(params.get("limit", MAX_BATCH), 1), MAX_BATCH)
    generation = queue.begin_poll()
    deadline = time.monotonic() + max(params.get("timeout", 0), 0)

    def poll_finished() -> bool:
        return bool(queue.peek(1)) or ctx.closing or queue.is_superseded(generation)

    await wait_until(poll_finished, ctx.world.notifier, deadline)
    if queue.is_superseded(generation):
        raise ApiError(409, POLL_CONFLICT, is_rejection=False)
    batch = queue.peek(limit) if call.client_alive() else []
    queue.mark_delivered(batch)
    return [update.to_json() for update in batch]


def _checked_webhook_config(params: dict[str, Any]) -> WebhookConfig:
    url = params["url"]
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token")
    if secret is not None and not _SECRET_TOKEN.match(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = params.get("max_connections", 40)
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be in range 1-100")
    return WebhookConfig(
        url=url,
        secret_token=secret,
        max_connections=max_connections,
        ip_address=params.get("ip_address"),
        has_custom_certificate="certificate" in params,
    )


async def set_webhook(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    if not params.get("url"):
        return await delete_webhook(ctx, params, call)
    config = _checked_webhook_config(params)
    if params.get("drop_pending_updates"):
        ctx.queue.drop_pending()
    if "allowed_updates" in params:
        ctx.queue.set_allowed(params["allowed_updates"])
    ctx.queue.begin_poll()
    await ctx.webhook.configure(config)
    return True


async def delete_webhook(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    if params.get("drop_pending_updates"):
        ctx.queue.drop_pending()
    await ctx.webhook.stop()
    return True


async def get_webhook_info(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    return ctx.webhook.info_json()


def scope_key(ctx: SandboxContext, scope: dict[str, Any] | None) -> tuple[str, str, int]:
    scope = scope or {"type": "default"}
    if "chat_id" in scope:
        ctx.world.require_chat(scope["chat_id"])
    return scope["type"], str(scope.get("chat_id", "")), int(scope.get("user_id", 0))


def _language(params: dict[str, Any]) -> str:
    language = params.get("language_code", "")
    if not _LANGUAGE_CODE.match(language):
        raise bad_request("invalid language code specified")
    return language


def _checked_commands(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(commands) > MAX_COMMANDS:
        raise bad_request("too many commands specified")
    for command in commands:
        if not _COMMAND_NAME.match(command["command"]):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(command["description"].strip()) <= MAX_COMMAND_DESCRIPTION:
            raise bad_request("command description must be 1-256 characters long")
    return [{"command": c["command"], "description": c["description"]} for c in commands]


async def set_my_commands(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    key = (scope_key(ctx, params.get("scope")), _language(params))
    commands = _checked_commands(params["commands"])
    if commands:
        ctx.profile.commands[key] = commands
    else:
        ctx.profile.commands.pop(key, None)
    return True


async def get_my_commands(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    key = (scope_key(ctx, params.get("scope")), _language(params))
    return [dict(command) for command in ctx.profile.commands.get(key, [])]


async def delete_my_commands(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    ctx.profile.commands.pop((scope_key(ctx, params.get("scope")), _language(params)), None)
    return True


def _profile_text_handlers(field_name: str) -> tuple[Handler, Handler]:
    async def set_text(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
        value = params.get(field_name, "")
        require_length(value, PROFILE_TEXT_LIMITS[field_name], f"{field_name} is too long")
        ctx.profile.texts[(field_name, _language(params))] = value
        return True

    async def get_text(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
        texts = ctx.profile.texts
        language = _language(params)
        value = texts.get((field_name, language)) or texts.get((field_name, ""), "")
        if field_name == "name" and not value:
            value = ctx.world.bot.first_name
        return {field_name: value}

    return set_text, get_text


async def set_chat_menu_button(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    chat_id = params.get("chat_id")
    if chat_id is not None:
        ctx.world.require_chat(chat_id)
    ctx.profile.menu_buttons[chat_id] = params.get("menu_button") or {"type": "default"}
    return True


async def get_chat_menu_button(ctx: SandboxContext, params: dict[str, Any], call: CallInfo) -> Any:
    buttons = ctx.profile.menu_buttons
    return buttons.get(params.get("chat_id")) or buttons.get(None) or {"type": "commands"}


def _profile_handlers() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for field_name, method_suffix in (
        ("name", "MyName"),
        ("description", "MyDescription"),
        ("short_description", "MyShortDescription"),
    ):
        setter, getter = _profile_text_handlers(field_name)
        handlers[f"set{method_suffix}"] = setter
        handlers[f"get{method_suffix}"] = getter
    return handlers


def bot_handlers() -> dict[str, Handler]:
    return {
        "getMe": get_me,
        "logOut": always_true,
        "close": always_true,
        "getUpdates": get_updates,
        "setWebhook": set_webhook,
        "deleteWebhook": delete_webhook,
        "getWebhookInfo": get_webhook_info,
        "setMyCommands": set_my_commands,
        "getMyCommands": get_my_commands,
        "deleteMyCommands": delete_my_commands,
        "setChatMenuButton": set_chat_menu_button,
        "getChatMenuButton": get_chat_menu_button,
        **_profile_handlers(),
    }
