"""A fast double tap: two presses of one button reach the bot before its first edit lands.

Telegram answers the second edit with "Bad Request: message is not modified: …", which
python-telegram-bot turns into BadRequest("Message is not modified: …"): the bot must take it
for what it is, answer both presses and tell the user nothing went wrong.
"""

import logging

import pytest

from bot.db.models import TargetKind
from tests.test_citizen_flow import followed, labels

pytestmark = pytest.mark.usefixtures("running_bot")

SOMETHING_WENT_WRONG = "qualcosa è andato storto"


def bot_texts(user) -> list[str]:
    return [entry.text or "" for entry in user.transcript if entry.from_bot]


def errors_logged(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


async def settle_the_updates_before(user) -> None:
    """Updates are handled in order: once a later message is answered, both presses are done."""
    await user.send("/start")


def take_the_not_modified_answer(sandbox) -> None:
    """The second press edited a message the first had already changed: Telegram answers
    "message is not modified", which the bot cannot foresee. Exactly that, once, and nothing
    else is left for the fixture's no-rejection check."""
    not_modified = [r for r in sandbox.rejections if "message is not modified" in r.description]
    assert [r.method for r in not_modified] == ["editMessageText"]
    sandbox.rejections.remove(not_modified[0])


async def test_double_tap_on_a_menu_button_redraws_once_and_reports_no_error(sandbox, caplog):
    caplog.set_level(logging.ERROR)
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    greeting = anna.last_bot_message.message_id

    await anna.double_press("Segui una strategia")
    await settle_the_updates_before(anna)

    assert len(anna.callback_answers) == 2
    assert "Le strategie del Piano" in anna.chat.messages[greeting].body.plain
    assert not [text for text in bot_texts(anna) if SOMETHING_WENT_WRONG in text]
    assert errors_logged(caplog) == []
    take_the_not_modified_answer(sandbox)


async def test_double_tap_on_follow_follows_once_and_reports_no_error(sandbox, db, caplog):
    caplog.set_level(logging.ERROR)
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    await anna.press("Segui una strategia")

    await anna.double_press("➕ S4 · Adattarci ai cambiamenti climatici")
    await settle_the_updates_before(anna)

    assert len(anna.callback_answers) == 3
    assert await followed(db, 1001, TargetKind.STRATEGY) == {"S4"}
    strategies = next(m for m in anna.bot_messages if "Le strategie del Piano" in (m.text or ""))
    assert "✅ S4 · Adattarci ai cambiamenti climatici" in labels(strategies)
    assert not [text for text in bot_texts(anna) if SOMETHING_WENT_WRONG in text]
    assert errors_logged(caplog) == []
    take_the_not_modified_answer(sandbox)


@pytest.mark.parametrize(
    "answer", ["Bad Request: message to edit not found", "Bad Request: message can't be edited"]
)
async def test_a_message_that_cannot_be_edited_is_shown_anew(sandbox, caplog, answer):
    caplog.set_level(logging.ERROR)
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    greeting = anna.last_bot_message.message_id
    sandbox.fail_next("editMessageText", error_code=400, description=answer)

    await anna.press("Segui una strategia")

    shown = anna.last_bot_message
    assert shown.message_id != greeting and "Le strategie del Piano" in shown.text
    assert len(anna.callback_answers) == 1
    assert errors_logged(caplog) == []


async def test_a_press_on_an_inaccessible_message_is_answered_with_a_new_message(sandbox, caplog):
    caplog.set_level(logging.ERROR)
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    greeting = anna.last_bot_message
    anna.chat.messages[greeting.message_id].deleted = True  # Telegram sends date 0, no content

    await anna.press_data(
        greeting.button_value("Segui una strategia"), message_id=greeting.message_id
    )

    assert "Le strategie del Piano" in anna.last_bot_message.text
    assert len(anna.callback_answers) == 1
    assert not [text for text in bot_texts(anna) if SOMETHING_WENT_WRONG in text]
    assert errors_logged(caplog) == []
