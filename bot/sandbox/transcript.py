"""Transcript entries (what happened in a chat) and their terminal rendering."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ButtonRow = list[tuple[str, str | None]]
_BUTTON_VALUE_FIELDS = ("callback_data", "url")
_CONTINUATION_INDENT = "   "


@dataclass
class TranscriptEntry:
    """One event in a chat.

    kinds: "user_message", "bot_message", "edit", "delete", "callback_answer",
    "user_press", "document", "photo" (user's or bot's, see ``from_bot``),
    "rejected" (a bot call Telegram would refuse), "block", "unblock".
    ``text`` is the displayed text (message text or caption, after parsing),
    ``html`` the raw text as sent.
    """

    kind: str
    chat_id: int
    message_id: int | None = None
    text: str | None = None
    html: str | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    buttons: list[ButtonRow] = field(default_factory=list)
    caption: str | None = None
    file_name: str | None = None
    file_id: str | None = None
    file_bytes: bytes | None = None
    mime_type: str | None = None
    data: str | None = None
    show_alert: bool = False
    from_bot: bool = False
    user_id: int | None = None
    edited: bool = False
    deleted: bool = False
    reply_to_message_id: int | None = None
    media_group_id: str | None = None  # a bot's album: the same for each of its messages
    method: str | None = None
    timestamp: float = 0.0

    @property
    def labels(self) -> list[str]:
        return [label for row in self.buttons for label, _ in row]

    @property
    def is_bot_action(self) -> bool:
        return self.from_bot

    def button_value(self, label: str) -> str | None:
        for row in self.buttons:
            for button_label, value in row:
                if button_label == label:
                    return value
        raise LookupError(f"no button {label!r}; available: {self.labels}")


def buttons_from_markup(markup: Mapping[str, Any] | None) -> list[ButtonRow]:
    if not markup:
        return []
    return [
        [(button["text"], _button_value(button)) for button in row]
        for row in markup.get("inline_keyboard", [])
    ]


def _button_value(button: Mapping[str, Any]) -> str | None:
    for key in _BUTTON_VALUE_FIELDS:
        if key in button:
            return button[key]
    return None


def _wrap(prefix: str, text: str, width: int) -> list[str]:
    lines: list[str] = []
    for index, paragraph in enumerate(text.split("\n") or [""]):
        first_indent = prefix if index == 0 else _CONTINUATION_INDENT
        wrapped = textwrap.wrap(
            paragraph,
            width=width,
            initial_indent=first_indent,
            subsequent_indent=_CONTINUATION_INDENT,
            replace_whitespace=False,
            drop_whitespace=True,
        )
        lines.extend(wrapped or [first_indent.rstrip()])
    return lines


def _button_lines(buttons: list[ButtonRow], width: int) -> list[str]:
    lines = []
    for row in buttons:
        cells = " ".join(_button_cell(label, value) for label, value in row)
        lines.extend(
            textwrap.wrap(
                cells,
                width=width,
                initial_indent=_CONTINUATION_INDENT,
                subsequent_indent=_CONTINUATION_INDENT,
            )
        )
    return lines


def _button_cell(label: str, value: str | None) -> str:
    is_link = bool(value) and "://" in str(value)
    return f"[ {label} ↗ ]" if is_link else f"[ {label} ]"


def _file_summary(entry: TranscriptEntry) -> str:
    icon = "🖼" if entry.kind == "photo" else "📎"
    size = len(entry.file_bytes or b"")
    summary = f"{icon} {entry.file_name or entry.kind} ({size} bytes)"
    return f"{summary}: {entry.caption}" if entry.caption else summary


def _describe(entry: TranscriptEntry, user_name: str) -> tuple[str, str]:
    """(prefix, body) of the first line of an entry."""
    kind = entry.kind
    if kind in ("document", "photo"):
        prefix = "🤖 " if entry.from_bot else f"👤 {user_name}: "
        return prefix, _file_summary(entry)
    if kind == "user_message":
        reply = f" (reply to #{entry.reply_to_message_id})" if entry.reply_to_message_id else ""
        return f"👤 {user_name}{reply}: ", entry.text or ""
    if kind == "bot_message":
        return "🤖 ", entry.text or ""
    if kind == "edit":
        return "🤖 (edited) ", entry.text or ""
    if kind == "delete":
        return "🤖 ", f"(deleted message #{entry.message_id})"
    if kind == "callback_answer":
        label = "alert" if entry.show_alert else "answer"
        return f"🤖 ({label}) ", entry.text or "—"
    if kind == "user_press":
        pressed = f"«{entry.text}»" if entry.text else f"[data={entry.data}]"
        return f"👤 {user_name} pressed ", pressed
    if kind == "rejected":
        return f"⛔ {entry.method} rejected: ", entry.text or ""
    if kind in ("block", "unblock"):
        return f"👤 {user_name} ", "blocked the bot" if kind == "block" else "unblocked the bot"
    return f"{kind}: ", entry.text or ""


def render_entries(
    entries: Iterable[TranscriptEntry], user_names: Mapping[int, str], *, width: int = 72
) -> str:
    lines: list[str] = []
    for entry in entries:
        user_name = user_names.get(entry.user_id or entry.chat_id, str(entry.user_id))
        prefix, body = _describe(entry, user_name)
        lines.extend(_wrap(prefix, body, width))
        if entry.kind in ("bot_message", "edit", "document", "photo") and entry.from_bot:
            lines.extend(_button_lines(entry.buttons, width))
    return "\n".join(lines)
