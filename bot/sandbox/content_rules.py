"""Telegram's rules for message texts, captions and inline keyboards."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import bad_request
from .telegram_html import HtmlParseError, parse_html, utf16_length

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
_PARSE_MODES = {"html": "HTML", "markdownv2": "MarkdownV2", "markdown": "Markdown"}
_BUTTON_FIELDS_WITHOUT_ACTION = frozenset({"text", "icon_custom_emoji_id", "style"})
_BUTTON_URL = re.compile(r"^(https?|tg)://\S+$", re.IGNORECASE)
_STRIPPED_CHARACTERS = " \t\r\n\v\f\u00a0\u200b\u2028\u2029\ufeff"
_COMMAND_AT_START = re.compile(r"^/[A-Za-z0-9_]{1,64}(@[A-Za-z0-9_]{3,64})?")


@dataclass(frozen=True)
class FormattedText:
    """A text (or caption) as sent (``raw``) and as displayed (``plain`` + entities)."""

    raw: str
    parse_mode: str | None
    plain: str
    entities: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def entity_list(self) -> list[dict[str, Any]]:
        return [dict(entity) for entity in self.entities]


def normalize_parse_mode(parse_mode: str | None) -> str | None:
    if not parse_mode:
        return None
    normalized = _PARSE_MODES.get(parse_mode.lower())
    if normalized is None:
        raise bad_request("unsupported parse_mode")
    return normalized


def _parse_entities(raw: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    if parse_mode != "HTML":
        return raw, []
    try:
        return parse_html(raw)
    except HtmlParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None


def _strip_with_entities(
    plain: str, entities: list[dict[str, Any]]
) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace like Telegram does, moving entity offsets along."""
    stripped = plain.strip(_STRIPPED_CHARACTERS)
    if stripped == plain:
        return plain, entities
    shift = utf16_length(plain[: len(plain) - len(plain.lstrip(_STRIPPED_CHARACTERS))])
    limit = utf16_length(stripped)
    moved = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            moved.append({**entity, "offset": start, "length": end - start})
    return stripped, moved


def format_text(
    raw: str, parse_mode: str | None, explicit_entities: list[dict[str, Any]] | None = None
) -> FormattedText:
    mode = normalize_parse_mode(parse_mode)
    if explicit_entities:
        plain, entities = raw, [dict(entity) for entity in explicit_entities]
    else:
        plain, entities = _parse_entities(raw, mode)
    plain, entities = _strip_with_entities(plain, entities)
    return FormattedText(raw=raw, parse_mode=mode, plain=plain, entities=tuple(entities))


def message_text(raw: str, parse_mode: str | None, entities: list | None = None) -> FormattedText:
    formatted = format_text(raw, parse_mode, entities)
    if not formatted.plain:
        raise bad_request("message text is empty")
    if utf16_length(formatted.plain) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return formatted


def caption_text(
    raw: str | None, parse_mode: str | None, entities: list | None = None
) -> FormattedText | None:
    if raw is None:
        return None
    formatted = format_text(raw, parse_mode, entities)
    if utf16_length(formatted.plain) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return formatted if formatted.plain else None


def user_text(text: str) -> FormattedText:
    """A text typed by a user: commands at the start get a bot_command entity."""
    command = _COMMAND_AT_START.match(text)
    entities: tuple[dict[str, Any], ...] = ()
    if command:
        length = utf16_length(command.group(0))
        entities = ({"type": "bot_command", "offset": 0, "length": length},)
    return FormattedText(raw=text, parse_mode=None, plain=text, entities=entities)


def check_reply_markup(markup: dict[str, Any] | None) -> None:
    if not markup or "inline_keyboard" not in markup:
        return
    buttons = [button for row in markup["inline_keyboard"] for button in row]
    if len(buttons) > MAX_INLINE_BUTTONS:
        raise bad_request("reply markup is too long")
    for button in buttons:
        check_inline_button(button)


def check_inline_button(button: dict[str, Any]) -> None:
    if not str(button.get("text", "")).strip():
        raise bad_request("can't parse inline keyboard button: Text must be non-empty")
    actions = sorted(key for key in button if key not in _BUTTON_FIELDS_WITHOUT_ACTION)
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise bad_request(
            "can't parse inline keyboard button: exactly one of the optional fields "
            f"must be used, got {', '.join(actions)}"
        )
    if "callback_data" in button:
        _check_callback_data(button["callback_data"])
    if "url" in button and not _BUTTON_URL.match(button["url"]):
        raise bad_request(
            f"inline keyboard button URL '{button['url']}' is invalid: Wrong HTTP URL"
        )


def _check_callback_data(data: str) -> None:
    if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
        raise bad_request("BUTTON_DATA_INVALID")


def inline_keyboard(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Only inline keyboards are attached to (and returned with) messages."""
    if markup and markup.get("inline_keyboard"):
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None
