"""Thin Telegram glue: each module turns updates into service calls and screens."""

from __future__ import annotations

from bot.handlers import (
    broadcast,
    buttons,
    events,
    fallback,
    feeds,
    following,
    members,
    monitoring,
    participation,
    plan,
    preferences,
    privacy,
    record_staff,
    staff,
    start,
    stats,
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
        *broadcast.handlers(),
        *stats.handlers(),
        *feeds.handlers(),
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
    # Before everything: what the broadcast wizard waits for (group -2: text, photos and
    # documents, so a document composing a broadcast is not imported as monitoring data), then
    # monitoring files sent by staff (group -1); everything else passes through to group 0.
    for handler in broadcast.input_handlers():
        application.add_handler(handler, group=-2)
    for handler in monitoring.input_handlers():
        application.add_handler(handler, group=-1)
    application.add_error_handler(fallback.on_error)
