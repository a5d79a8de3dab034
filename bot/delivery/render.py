"""Notifications rendered for one recipient, in their language, within Telegram's limits.

Returns plain data (text and button specs); the sender turns it into Telegram objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot import callbacks
from bot.db.models import Notification
from bot.delivery.templates import event, monitoring, template
from bot.delivery.templates.news import attribute, news_html
from bot.delivery.templates.text import text_html
from bot.i18n import _, ngettext
from bot.labels import notification_title, shorten
from feeds.telegram_html import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    escape,
    safe_link,
    split_html,
    truncate_html,
)

_GROUP_ITEM_LIMIT = 60
# Items listed (and numbered) in one grouped message: 50 lines of at most ~65 characters fit
# a message, and their number buttons (5 a row) stay well within Telegram's 100.
MAX_GROUP_ITEMS = 50
_NUMBERS_PER_ROW = 5


@dataclass(frozen=True)
class Media:
    """A photo or document shown first: a news image by URL, or a broadcast's file id."""

    kind: str  # "photo" or "document"
    ref: str  # an http(s) URL or a Telegram file id
    # With a caption the media is the whole message (buttons under it), and the text parts
    # are only a fallback for a file Telegram cannot use; without one, the parts follow it.
    caption: str | None = None


@dataclass(frozen=True)
class Rendered:
    """One or more message texts (a long staff text is split); buttons go under the last."""

    parts: tuple[str, ...]
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)
    media: Media | None = None


def title_of(notification: Notification, language: str) -> str:
    """One line of plain text naming the notification (lists, grouped messages, staff)."""
    if notification.template == "monitoring":
        return monitoring.headline(notification.payload, language)
    return notification_title(notification, language) or _("Update from the plan")


def render_parts(
    notification: Notification, language: str, public_url: str | None = None
) -> tuple[str, ...]:
    """News is shortened with a "read more" link; other texts are split, never cut.

    With `public_url` (PUBLIC_URL) a monitoring change links to its public page."""
    if notification.template == "monitoring":
        body = monitoring.notification_html(notification.payload, language, public_url)
    else:
        body = template(notification.template)(notification.payload, language)
    if notification.template == "news":
        return (truncate_html(body, MESSAGE_LIMIT),)
    return tuple(split_html(body, MESSAGE_LIMIT)) or (escape(title_of(notification, language)),)


def render_media(notification: Notification, language: str) -> Media | None:
    """News with an image: the photo with a shortened caption. A staff text with a photo or
    document: the file, captioned when the whole text fits a caption, else followed by it."""
    if notification.template == "news":
        photo_url = safe_link(notification.payload.get("image_url"))
        if photo_url is None or not photo_url.startswith("http"):
            return None
        body = news_html(notification.payload, language)
        link = safe_link(notification.payload.get("link"))
        caption = truncate_html(
            body, CAPTION_LIMIT, read_more_url=link, read_more_label=_("read more")
        )
        return Media("photo", photo_url, caption)
    attached = notification.payload.get("media")
    if notification.template != "text" or not attached:
        return None
    body = text_html(notification.payload, language)
    fits = len(split_html(body, CAPTION_LIMIT)) <= 1
    return Media(attached["kind"], attached["file_id"], body if fits else None)


def render_single(
    notification: Notification, delivery_id: int, language: str, public_url: str | None = None
) -> Rendered:
    buttons = notification_buttons(notification, delivery_id)
    media = render_media(notification, language)
    return Rendered(render_parts(notification, language, public_url), buttons, media)


def notification_buttons(
    notification: Notification, delivery_id: int
) -> list[list[tuple[str, str]]]:
    """The buttons under one delivered notification: an event's RSVP, then feedback."""
    feedback = feedback_buttons(delivery_id) if notification.with_feedback else []
    return _event_buttons(notification) + feedback


def _event_buttons(notification: Notification) -> list[list[tuple[str, str]]]:
    """RSVP and calendar file under an event's news, unless it was cancelled."""
    payload = notification.payload
    if notification.template != "event" or payload.get("phase") == "cancel":
        return []
    return event.buttons(int(payload["event_id"]))


def feedback_buttons(delivery_id: int, number: int | None = None) -> list[list[tuple[str, str]]]:
    """👍 👎 💬 for one delivery; `number` names the item of a grouped message they are for."""
    prefix = f"{number} · " if number is not None else ""

    def button(label: str, reaction: callbacks.Reaction) -> tuple[str, str]:
        return prefix + label, callbacks.feedback_data(delivery_id, reaction)

    return [
        [
            button(_("👍 Useful"), callbacks.Reaction.USEFUL),
            button(_("👎 Not useful"), callbacks.Reaction.NOT_USEFUL),
        ],
        [button(_("💬 Comment"), callbacks.Reaction.COMMENT)],
    ]


def render_group(
    items: list[tuple[int, Notification]],
    language: str,
    *,
    digest: bool,
    public_url: str | None = None,
) -> Rendered:
    """Several notifications in one message: a digest, or a burst grouped against floods.

    `items` are (delivery id, notification); they are numbered in the order of their
    deliveries, and each number is a button that opens that item's 👍 👎 💬 in place.
    Each title links to the item's page: with `public_url` a monitoring change's public
    page, else the link it carries.
    """
    items = sorted(items, key=lambda item: item[0])
    count = len(items)
    if digest:
        heading = ngettext(
            "📬 <b>Your digest: {count} update</b>", "📬 <b>Your digest: {count} updates</b>", count
        )
    else:
        heading = ngettext("📬 <b>{count} new update</b>", "📬 <b>{count} new updates</b>", count)
    listed = items[:MAX_GROUP_ITEMS]
    lines = [heading.format(count=count), ""]
    for number, (_delivery_id, notification) in enumerate(listed, start=1):
        title = escape(shorten(title_of(notification, language), _GROUP_ITEM_LIMIT))
        link = _item_link(notification, language, public_url)
        title = f'<a href="{attribute(link)}">{title}</a>' if link else title
        lines.append(f"{number}. {title}")
    if count > len(listed):
        lines.append(escape(_("…and more updates: {count}").format(count=count - len(listed))))
    buttons = group_buttons(listed)
    if buttons:
        lines += ["", "<i>" + escape(_("Tap a number to rate or comment on that update.")) + "</i>"]
    return Rendered((truncate_html("\n".join(lines), MESSAGE_LIMIT),), buttons)


def _item_link(notification: Notification, language: str, public_url: str | None) -> str | None:
    if notification.template == "monitoring":
        page = monitoring.public_url_for(notification.payload, language, public_url)
        if page:
            return page
    return safe_link(notification.payload.get("link"))


def group_buttons(
    items: list[tuple[int, Notification]], selected: int | None = None
) -> list[list[tuple[str, str]]]:
    """The numbers of a grouped message's items (those open to feedback); with `selected`
    (a delivery id), that item's 👍 👎 💬 above them."""
    numbered = [
        (number, delivery_id)
        for number, (delivery_id, notification) in enumerate(items, start=1)
        if notification.with_feedback
    ]
    chosen = next((n for n, delivery_id in numbered if delivery_id == selected), None)
    rows = feedback_buttons(selected, chosen) if selected is not None and chosen is not None else []
    numbers = [
        (f"· {n} ·" if n == chosen else str(n), callbacks.feedback_item_data(delivery_id))
        for n, delivery_id in numbered
    ]
    return rows + [
        numbers[i : i + _NUMBERS_PER_ROW] for i in range(0, len(numbers), _NUMBERS_PER_ROW)
    ]
