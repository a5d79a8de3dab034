"""Composition of the Telegram application: settings → database → handlers."""

from __future__ import annotations

import logging
from typing import cast

from telegram import Bot, BotCommand, BotCommandScopeDefault, Update
from telegram.ext import Application, TypeHandler

from bot import handlers
from bot.config import SUPPORTED_LANGUAGES, Settings
from bot.db.engine import Database
from bot.delivery.ratelimit import RateLimiter
from bot.delivery.replies import PerUserUpdateProcessor, ReplyRateLimiter, interactive_request
from bot.delivery.sender import Sender, SenderConfig
from bot.delivery.transport import AiohttpRequest
from bot.handlers.context import CONTEXT_TYPES, BotApplication
from bot.i18n import use_locale
from bot.metrics import Metrics
from bot.screens import following as following_screens
from bot.web import count_updates

log = logging.getLogger(__name__)


# PTB runs at most one handler per group, so counting has a group of its own, before every
# other one (-2 broadcast wizard input, -1 monitoring uploads, 0 commands and the rest): a
# counter that matches every update must never take a group another handler needs.
COUNTING_GROUP = -100


def build_application(
    settings: Settings, db: Database, *, metrics: Metrics, limiter: RateLimiter
) -> BotApplication:
    """The Telegram application of `python -m bot run`; use `bot.runtime.compose` to get it.

    Its messages wait for their turn in `limiter`, the sender's, ahead of deliveries."""
    api_base = settings.telegram_api_base_url
    builder = (
        Application.builder()
        .token(settings.require_token())
        .base_url(api_base)
        .base_file_url(_file_url_for(api_base))
        .context_types(CONTEXT_TYPES)
        # Replies share the sender's budget and go before its deliveries; answers to button
        # presses are not messages and are not held back (bot/delivery/replies.py).
        .rate_limiter(ReplyRateLimiter(limiter))
        .request(interactive_request())
        .concurrent_updates(PerUserUpdateProcessor(settings.delivery.concurrent_updates))
        .post_init(_post_init)
    )
    # The builder's type parameters do not follow context_types() into the job queue's; what
    # it builds is a BotApplication (BotData as bot_data, BotContext in jobs and handlers).
    application = cast(BotApplication, builder.build())
    application.bot_data.settings = settings
    application.bot_data.db = db
    application.add_handler(TypeHandler(Update, count_updates(metrics)), group=COUNTING_GROUP)
    handlers.register(application)
    return application


def build_sender(
    settings: Settings,
    db: Database,
    *,
    base_url: str | None = None,
    base_file_url: str | None = None,
    config: SenderConfig | None = None,
    metrics: Metrics | None = None,
) -> Sender:
    """The delivery sender has its own Bot: no PTB rate limiter, its own connection pool."""
    config = config or sender_config(settings)
    api_base = base_url or settings.telegram_api_base_url
    bot = Bot(
        settings.require_token(),
        base_url=api_base,
        base_file_url=base_file_url or _file_url_for(api_base),
        request=AiohttpRequest(
            connection_limit=config.max_in_flight,
            connect_timeout=config.connect_timeout_s,
            read_timeout=config.read_timeout_s,
        ),
    )
    return Sender(db, bot, config, metrics=metrics)


def sender_config(settings: Settings) -> SenderConfig:
    knobs = settings.delivery
    return SenderConfig(
        messages_per_second=settings.delivery_rate,
        paid_broadcast=settings.paid_broadcast,
        batch_size=knobs.batch_size,
        min_in_flight=knobs.min_in_flight,
        max_in_flight=knobs.max_in_flight,
        commit_interval_s=knobs.commit_interval_s,
        max_attempts=knobs.max_attempts,
        read_timeout_s=knobs.read_timeout_s,
        public_url=settings.public_url,
    )


def _file_url_for(api_base: str) -> str:
    # https://api.telegram.org/bot → https://api.telegram.org/file/bot
    return api_base[: -len("bot")] + "file/bot" if api_base.endswith("/bot") else api_base


async def _post_init(application: BotApplication) -> None:
    await application.bot_data.db.ping()
    await publish_command_menus(application)


async def publish_command_menus(application: BotApplication) -> None:
    """The command menu in each language, and the default language for everyone else."""
    default = application.bot_data.settings.default_language
    for language in (*SUPPORTED_LANGUAGES, None):
        with use_locale(language or default):
            commands = [BotCommand(name, text) for name, text in following_screens.command_menu()]
        await application.bot.set_my_commands(
            commands, scope=BotCommandScopeDefault(), language_code=language
        )
