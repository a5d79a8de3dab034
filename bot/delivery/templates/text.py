"""The "text" template: a staff text in Telegram HTML, in one language or several."""

from __future__ import annotations

from bot.labels import localized
from feeds.telegram_html import sanitize_html


def text_html(payload: dict, language: str) -> str:
    """Staff texts in Telegram HTML: {"html": "..."} or {"html": {"it":…, "en":…}}.

    In Telegram HTML a line break is text, in web HTML only white space: keep it as <br>.
    """
    return sanitize_html(localized(payload.get("html"), language).replace("\n", "<br>"))
