"""The "news" template: a feed item with its title, text, link and source."""

from __future__ import annotations

import html

from bot.i18n import _
from bot.labels import localized
from feeds.telegram_html import as_telegram_html, escape, safe_link, truncate_html

# Room kept for the header and the link line around a feed item's own text.
_NEWS_BODY_LIMIT = 3000


def attribute(value: str) -> str:
    return html.escape(value, quote=True)


def news_html(payload: dict, language: str) -> str:
    """The payload's HTML is Telegram HTML already (the poller sanitized it): kept as it is,
    paragraphs included. Items stored before titles were always filled fall back to the
    source's name, so the header is never empty."""
    title = localized(payload.get("title"), language) or payload.get("source")
    title = escape(title or _("Update from the plan"))
    link = safe_link(payload.get("link"))
    body = as_telegram_html(localized(payload.get("html"), language))
    if body:
        body = truncate_html(
            body, _NEWS_BODY_LIMIT, read_more_url=link, read_more_label=_("read more")
        )
    parts = [f"📰 <b>{title}</b>"]
    if body:
        parts.append(body)
    footer = []
    if link:
        label = escape(_("Open the news"))
        footer.append(f'<a href="{attribute(link)}">{label}</a>')
    if payload.get("source"):
        footer.append(f"<i>{escape(payload['source'])}</i>")
    if footer:
        parts.append(" · ".join(footer))
    return "\n\n".join(parts)
