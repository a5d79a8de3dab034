"""How an event reads in a message, in the current language (Telegram HTML), with its buttons.

Shared by the `event` notification template (`delivery/render.py`) and the /events screens.
Times are shown in Europe/Rome, whatever the season.
"""

from __future__ import annotations

import html
from datetime import datetime

from bot import callbacks
from bot.callbacks import EventChoice
from bot.db.models import EventKind, RsvpAnswer
from bot.i18n import N_, TIMEZONE, _, format_datetime, ngettext
from bot.labels import localized
from bot.services.events import WHEN_FORMAT
from feeds.telegram_html import escape, safe_link

_KIND_LABELS = {
    EventKind.MEETING: N_("Meeting"),
    EventKind.NETWORK_MEETING: N_("Network meeting"),
    EventKind.ANNUAL_REVIEW: N_("Annual review"),
    EventKind.CONSULTATION: N_("Consultation or deadline"),
    EventKind.OTHER: N_("Event"),
}
_HEADINGS = {
    "announce": ("📅", N_("New event")),
    "update": ("🔄", N_("Event changed: new time or place")),
    "cancel": ("❌", N_("Event cancelled")),
    "reminder_day": ("⏰", N_("Reminder: tomorrow")),
    "reminder_hour": ("⏰", N_("Reminder: in one hour")),
    "card": ("📅", None),
}


def kind_label(kind: str) -> str:
    try:
        return _(_KIND_LABELS[EventKind(kind)])
    except ValueError:
        return _(_KIND_LABELS[EventKind.OTHER])


def when(starts_at: datetime, ends_at: datetime | None) -> str:
    """Start (and end) in Rome time, in the current language."""
    start = format_datetime(starts_at, WHEN_FORMAT)
    if ends_at is None:
        return start
    same_day = ends_at.astimezone(TIMEZONE).date() == starts_at.astimezone(TIMEZONE).date()
    end = format_datetime(ends_at, "HH:mm" if same_day else WHEN_FORMAT)
    return _("{start} – {end}").format(start=start, end=end)


def event_html(payload: dict, language: str) -> str:
    """The `event` template: what happened (new, changed, cancelled, reminder) and the details."""
    icon, heading = _HEADINGS.get(payload.get("phase", ""), _HEADINGS["card"])
    title = escape(localized(payload.get("title"), language))
    lines = []
    if heading:
        label = escape(_(heading))
        lines.append(f"{icon} <b>{label}</b>")
    lines.append(f"<b>{title}</b>" if heading else f"{icon} <b>{title}</b>")
    lines.append(f"<i>{escape(kind_label(payload.get('kind', '')))}</i>")
    lines.append("")
    lines.extend(_details(payload, language))
    return "\n".join(lines)


def _details(payload: dict, language: str) -> list[str]:
    starts_at = datetime.fromisoformat(payload["starts_at"])
    ends_at = datetime.fromisoformat(payload["ends_at"]) if payload.get("ends_at") else None
    lines = [_("🕒 {when}").format(when=escape(when(starts_at, ends_at)))]
    place = payload.get("place") or payload.get("comune")  # as given; else the comune
    if place:
        lines.append(_("📍 {place}").format(place=escape(place)))
    link = safe_link(payload.get("online_url"))
    if link:
        label = escape(_("Join online"))
        lines.append(f'🔗 <a href="{html.escape(link, quote=True)}">{label}</a>')
    description = localized(payload.get("description"), language)
    if description:
        lines.extend(["", escape(description[:1500])])
    return lines


def counts_line(counts: dict[str, int]) -> str:
    attending = counts.get(RsvpAnswer.YES.value, 0)
    return ngettext(
        "{count} person will attend, {maybe} maybe",
        "{count} people will attend, {maybe} maybe",
        attending,
    ).format(count=attending, maybe=counts.get(RsvpAnswer.MAYBE.value, 0))


def answer_label(answer: str) -> str:
    labels = {
        RsvpAnswer.YES.value: N_("You will attend."),
        RsvpAnswer.MAYBE.value: N_("You might attend."),
        RsvpAnswer.NO.value: N_("You will not attend."),
    }
    return _(labels[answer])


def buttons(event_id: int) -> list[list[tuple[str, str]]]:
    """RSVP and calendar-file buttons, as (label, callback data) rows."""
    return [
        [
            (_("✅ I'll attend"), callbacks.event_data(event_id, EventChoice.YES)),
            (_("🤔 Maybe"), callbacks.event_data(event_id, EventChoice.MAYBE)),
            (_("❌ No"), callbacks.event_data(event_id, EventChoice.NO)),
        ],
        [(_("🗓 Add to calendar"), callbacks.event_data(event_id, EventChoice.CALENDAR_FILE))],
    ]
