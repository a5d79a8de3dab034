"""What a Telegram error answer says, recognised in one place.

The Bot API server answers e.g. "Bad Request: message is not modified: …"; python-telegram-bot
strips "Bad Request: " and ``str.capitalize()``s the rest, so ``BadRequest.message`` reads
"Message is not modified: …" and "Button_data_invalid". Texts are therefore compared without
regard to case. The phrases are the official server's wording (``shared/telegram/errors.json``,
copied to ``tests/sandbox/telegram_errors.json``; a test checks each phrase against it).
"""

from __future__ import annotations

from telegram.error import TelegramError

NOT_MODIFIED = "message is not modified"
EDIT_TARGET_NOT_FOUND = "message to edit not found"
CANNOT_BE_EDITED = "message can't be edited"
CHAT_GONE = ("chat not found", "user is deactivated", "peer_id_invalid")
UNUSABLE_FILE = (
    "wrong file identifier",
    "image_process_failed",
    "failed to get http url",
    "wrong type of the web page content",
    "photo_invalid_dimensions",
    "wrong remote file identifier",
)


def says(error: TelegramError, *phrases: str) -> bool:
    """True when the error's text contains one of the phrases, in any case."""
    text = error.message.casefold()
    return any(phrase.casefold() in text for phrase in phrases)


def is_not_modified(error: TelegramError) -> bool:
    """An edit that would change nothing (a repeated tap, the same progress figures)."""
    return says(error, NOT_MODIFIED)


def is_edit_target_gone(error: TelegramError) -> bool:
    """The message to edit was deleted or can no longer be edited: send a new one instead."""
    return says(error, EDIT_TARGET_NOT_FOUND, CANNOT_BE_EDITED)


def is_chat_gone(error: TelegramError) -> bool:
    """The chat does not exist any more (unknown chat, deleted account)."""
    return says(error, *CHAT_GONE)


def is_unusable_file(error: TelegramError) -> bool:
    """Telegram cannot use the photo or document given (file id, URL or image content)."""
    return says(error, *UNUSABLE_FILE)
