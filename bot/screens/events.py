"""What a person sees about events: the card (text + RSVP and calendar buttons), the list;
for staff, the answers to /newevent and /event (list, change, cancel)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.db.models import Event, EventStatus
from bot.delivery.templates import event as event_text
from bot.i18n import N_, _, current_language, format_datetime
from bot.screens import View, shorten
from bot.services.events import EventDraft, EventError
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


def event_error(error: EventError) -> View:
    return View(_("The event was not saved: {error}").format(error=escape(error.reason())))


def published(event_id: int) -> View:
    return View(_("Event #{id} published: its followers are being told.").format(id=event_id))


# --- staff: /event list | change | cancel ------------------------------------------------------

MAX_LISTED = 20
LIST_TIME_FORMAT = "EEE d MMM y, HH:mm"
_STATUS_LABELS: dict[str, str] = {
    EventStatus.SCHEDULED: N_("scheduled"),
    EventStatus.CHANGED: N_("changed"),
    EventStatus.CANCELLED: N_("cancelled"),
}


def manage_usage() -> View:
    return View(
        _(
            "Usage:\n"
            "<code>/event list [all]</code>\n"
            "<code>/event change ID | YYYY-MM-DD HH:MM | place | end=HH:MM</code> "
            "(leave the time or the place empty to keep it)\n"
            "<code>/event cancel ID</code>"
        )
    )


def manage_error(error: EventError) -> View:
    """A line that could not be read: the reason, then the usage."""
    reason = _("The event was not saved: {error}").format(error=escape(error.reason()))
    return View(f"{reason}\n\n{manage_usage().text}")


def unknown_event(event_id: int) -> View:
    return View(_("There is no event #{id}.").format(id=event_id))


def staff_list(rows: list[tuple[Event, dict[str, int]]], show_all: bool, hidden: int) -> View:
    """One line per event: id, Rome time, title, status, yes / maybe / no."""
    if not rows:
        if show_all:
            return View(_("No event has been published yet."))
        return View(_("There are no upcoming events. Publish one with /newevent."))
    heading = _("<b>All events</b>") if show_all else _("<b>Upcoming events</b>")
    lines = [heading]
    for event, counts in rows:
        title = escape(shorten(event.title(current_language()), 80))
        status = _(_STATUS_LABELS.get(event.status, _STATUS_LABELS[EventStatus.SCHEDULED]))
        answers = _("yes {yes} · maybe {maybe} · no {no}").format(
            yes=counts.get("yes", 0), maybe=counts.get("maybe", 0), no=counts.get("no", 0)
        )
        when = format_datetime(event.starts_at, LIST_TIME_FORMAT)
        lines.append(f"#{event.id} · {when} · <b>{title}</b> · {status} · {answers}")
    if hidden:
        lines.append(_("({count} more not shown)").format(count=hidden))
    return View("\n".join(lines))


def changed(
    event: Event,
    before: EventDraft,
    after: EventDraft,
    what: list[str],
    notified: bool,
    comuni: tuple[str | None, str | None] = (None, None),
) -> View:
    """What `/event change` did: old → new for the time, the place and the comune (names in
    `comuni`), and who is told."""
    lines = [
        _("Event #{id} changed: {title}").format(
            id=event.id, title=escape(event.title(current_language()))
        )
    ]
    if "time" in what:
        old = event_text.when(before.starts_at, before.ends_at)
        new = event_text.when(after.starts_at, after.ends_at)
        lines.append(f"🕒 {escape(old)} → {escape(new)}")
    if "place" in what:
        lines.append(f"📍 {escape(before.place or '—')} → {escape(after.place or '—')}")
    if "comune" in what:
        old, new = (escape(name or "—") for name in comuni)
        lines.append(_("🏛 Comune: {old} → {new}").format(old=old, new=new))
    lines.append(_told(notified))
    return View("\n".join(lines))


def unchanged(event_id: int) -> View:
    return View(_("Event #{id}: nothing changed.").format(id=event_id))


def cannot_change_cancelled(event_id: int) -> View:
    return View(_("Event #{id} was cancelled: it cannot be changed.").format(id=event_id))


def cancelled(event: Event, notified: bool) -> View:
    title = escape(event.title(current_language()))
    text = _("Event #{id} cancelled: {title}").format(id=event.id, title=title)
    return View(f"{text}\n{_told(notified)}")


def already_cancelled(event: Event) -> View:
    title = escape(event.title(current_language()))
    return View(_("Event #{id} was already cancelled: {title}").format(id=event.id, title=title))


def _told(notified: bool) -> str:
    if notified:
        return _("Its followers and whoever answered are being told.")
    return _("Nobody is told: the event is in the past.")
