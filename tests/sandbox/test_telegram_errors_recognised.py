"""bot.telegram_errors recognises each official error answer as PTB raises it, and nothing else.

Every entry of errors.json is provoked through the stand-in and read by PTB (as in
test_sandbox_errors); each predicate must hold for its entries and for no other entry.
"""

from __future__ import annotations

import pytest
from telegram.error import TelegramError

from bot import telegram_errors
from bot.telegram_errors import (
    is_chat_gone,
    is_edit_target_gone,
    is_not_modified,
    is_unusable_file,
)
from tests.sandbox.test_sandbox_errors import ANNA, CASES, ERRORS, ptb_api

PREDICATES = (is_not_modified, is_edit_target_gone, is_chat_gone, is_unusable_file)
RECOGNISED = {
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message": is_not_modified,
    "Bad Request: message to edit not found": is_edit_target_gone,
    "Bad Request: message can't be edited": is_edit_target_gone,
    "Bad Request: chat not found": is_chat_gone,
    "Forbidden: user is deactivated": is_chat_gone,
    "Bad Request: wrong file identifier/HTTP URL specified": is_unusable_file,
    "Bad Request: failed to get HTTP URL content": is_unusable_file,
}
# TDLib texts the bot also recognises that errors.json does not list.
NOT_IN_ERRORS_JSON = {
    "peer_id_invalid",
    "image_process_failed",
    "wrong type of the web page content",
    "photo_invalid_dimensions",
    "wrong remote file identifier",
}


def test_the_phrases_are_the_official_wording():
    phrases = {
        telegram_errors.NOT_MODIFIED,
        telegram_errors.EDIT_TARGET_NOT_FOUND,
        telegram_errors.CANNOT_BE_EDITED,
        *telegram_errors.CHAT_GONE,
        *telegram_errors.UNUSABLE_FILE,
    }
    descriptions = [entry["description"].casefold() for entry in ERRORS["errors"]]
    official = {phrase for phrase in phrases if any(phrase in text for text in descriptions)}
    assert phrases - official == NOT_IN_ERRORS_JSON


@pytest.mark.parametrize("description", sorted(CASES))
async def test_each_predicate_holds_for_its_answers_only(sandbox, bot, description):
    sandbox.user(ANNA, "Anna")
    with pytest.raises(TelegramError) as raised:
        await CASES[description](sandbox, bot, ptb_api(sandbox, bot))
    holding = {predicate for predicate in PREDICATES if predicate(raised.value)}
    expected = {RECOGNISED[description]} if description in RECOGNISED else set()
    assert holding == expected
