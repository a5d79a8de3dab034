"""What each kind of notification says: one registry from a template name to its renderer.

A notification's `template` names one of `TEMPLATES`; each renders the payload as Telegram
HTML in one language. An unknown name renders as a staff text.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.delivery.templates.event import event_html
from bot.delivery.templates.monitoring import notification_html
from bot.delivery.templates.news import news_html
from bot.delivery.templates.text import text_html

Template = Callable[[dict, str], str]

TEMPLATES: dict[str, Template] = {
    "text": text_html,
    "news": news_html,
    "monitoring": notification_html,
    "event": event_html,
}


def template(name: str) -> Template:
    """The renderer of the template `name`; a staff text's when the name is unknown."""
    return TEMPLATES.get(name, text_html)
