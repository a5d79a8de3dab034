"""Thin Telegram glue: each module turns updates into service calls and screens."""

from __future__ import annotations

from bot.handlers import (
    buttons,
    events,
    fallback,
    following,
    members,
    participation,
    plan,
    preferences,
    privacy,
    record_staff,
    staff,
    start,
)
from bot.handlers.context import BotApplication


def register(application: BotApplication) -> None:
    """All handlers in one visible list; order matters within group 0."""
    for handler in [
        *start.handlers(),
        *following.handlers(),
        *plan.handlers(),
        *events.handlers(),
        *preferences.handlers(),
        *staff.handlers(),
        *record_staff.handlers(),
        *participation.command_handlers(),
        *privacy.handlers(),
        *buttons.handlers(),
        *members.handlers(),
        # Replies, answers to questions, media and forwards: after every command handler,
        # before the fallback, which would otherwise take every free text.
        *participation.message_handlers(),
        # Last: anything the handlers above did not take.
        *fallback.handlers(),
    ]:
        application.add_handler(handler)
    application.add_error_handler(fallback.on_error)
