"""Thin Telegram glue: each module turns updates into service calls and screens."""

from __future__ import annotations

from bot.handlers import buttons, fallback, following, members, preferences, staff, start
from bot.handlers.context import BotApplication


def register(application: BotApplication) -> None:
    """All handlers in one visible list; order matters within group 0."""
    for handler in [
        *start.handlers(),
        *following.handlers(),
        *preferences.handlers(),
        *staff.handlers(),
        *buttons.handlers(),
        *members.handlers(),
        # Last: anything the handlers above did not take.
        *fallback.handlers(),
    ]:
        application.add_handler(handler)
    application.add_error_handler(fallback.on_error)
