"""Addresses of the public pages ("Il Piano in cifre") and of the bot's deep links to them.

Shared by the bot (links in /piano and in notifications) and the pages (`bot.site`): Italian
at the root of `PUBLIC_URL`, English under `/en/`, directory-style (`/azioni/S4.1/`).
"""

from __future__ import annotations

from urllib.parse import quote

from bot.config import SUPPORTED_LANGUAGES
from bot.services.subscriptions import action_start_parameter

TELEGRAM_LINK = "https://t.me/"


def home_page_url(public_url: str, language: str) -> str:
    """`https://psm.example.org/` in Italian, `https://psm.example.org/en/` in English."""
    if language not in SUPPORTED_LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    root = public_url.rstrip("/")
    return f"{root}/en/" if language == "en" else f"{root}/"


def action_page_url(public_url: str, action_code: str, language: str) -> str:
    """The action's own page: `…/azioni/S4.1/`, in English `…/en/azioni/S4.1/`."""
    return f"{home_page_url(public_url, language)}azioni/{quote(action_code, safe='')}/"


def action_deep_link(bot_username: str, action_code: str) -> str:
    """`https://t.me/<bot>?start=action_S4-1`: opening it follows the action in the bot.

    A code too long to spell in Telegram's start parameter (64 characters) links to the bot
    itself, where /piano finds the action; the plan's codes (`S4.1`) are far shorter.
    """
    bot = TELEGRAM_LINK + bot_username.removeprefix("@")
    parameter = action_start_parameter(action_code)
    return f"{bot}?start={parameter}" if parameter else bot
