"""Short plain-text names: of notifications (for lists, charts, the record and staff screens)
and of anything shown on a button or a list line. No Telegram import, so services use it too.
"""

from __future__ import annotations

from bot.db.models import Notification
from feeds.telegram_html import visible_text


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut with "…" (button labels, list lines)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def localized(value: str | dict | None, language: str) -> str:
    """A payload value that is either one string or {"it": ..., "en": ...}."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.get(language) or value.get("it") or next(iter(value.values()), "")


def plain_label(html: str, limit: int | None = None) -> str:
    """Telegram HTML as one line of plain text (tags dropped, entities decoded, white space
    collapsed), at most `limit` characters."""
    text = " ".join(visible_text(html).split())
    return shorten(text, limit) if limit else text


def notification_title(notification: Notification, language: str) -> str:
    """A notification's title as plain text, "" when it has none.

    A staff text is Telegram HTML and its stored title only the start of it (a tag may be
    cut in half there): its title is the first line of the text as people read it.
    """
    payload = notification.payload or {}
    title = localized(payload.get("title"), language)
    if notification.template != "text":
        return title.strip()
    lines = visible_text(localized(payload.get("html"), language)).splitlines()
    first_line = next((line for line in lines if line.strip()), "")
    return plain_label(first_line) or plain_label(title)
