"""What a person sees about events: the card (text + RSVP and calendar buttons), the list."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import event_text
from bot.db.models import EventStatus
from bot.i18n import _, current_language
from bot.screens import View
from feeds.telegram_html import escape

MAX_CARDS = 5


def card(payload: dict, counts: dict[str, int], answer: str | None, status: str) -> View:
    """An event with the person's answer and the counts; no buttons once it is cancelled."""
    lines = [event_text.event_html(payload, current_language()), ""]
    if status == EventStatus.CANCELLED:
        lines.append(_("❌ This event was cancelled."))
        return View("\n".join(lines))
    lines.append(event_text.counts_line(counts))
    if answer:
        lines.append(f"<b>{event_text.answer_label(answer)}</b>")
    rows = event_text.buttons(payload["event_id"])
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )
    return View("\n".join(lines), keyboard)


def no_upcoming_events() -> View:
    return View(_("There are no upcoming events for what you follow."))


def more_events() -> View:
    return View(_("…and more: follow fewer topics to narrow the list (/mysubs)."))


def staff_only() -> View:
    return View(_("This command is reserved to the staff of the plan's office."))


def new_event_usage() -> View:
    return View(
        _(
            "Write the event on one line:\n"
            "<code>/newevent 2026-12-03 17:30 | Title | Place | zone=tigullio strategy=S4 "
            "comune=010046 kind=meeting end=19:30 url=https://… en=English title</code>"
        )
    )


def event_error(message: str) -> View:
    return View(_("The event was not saved: {error}").format(error=escape(message)))


def published(event_id: int) -> View:
    return View(_("Event #{id} published: its followers are being told.").format(id=event_id))
