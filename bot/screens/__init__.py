"""What people see: each screen is a text (Telegram HTML) and an inline keyboard.

Screens read through the services and render in the current language; handlers send them.
One module per feature (`following`, `plan`, `events`, `participation`, `broadcast`, and the
statistics `charts`); the pieces they share are here.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.labels import shorten

__all__ = ["View", "button", "in_rows", "shorten"]


@dataclass(frozen=True)
class View:
    text: str
    keyboard: InlineKeyboardMarkup | None = None


def button(label: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=data)


def in_rows(buttons: list[InlineKeyboardButton], per_row: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
