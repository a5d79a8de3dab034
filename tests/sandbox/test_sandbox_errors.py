"""The stand-in answers errors in the official server's words; PTB reads them as it would.

`telegram_errors.json` (beside this file) is a copy of `shared/telegram/errors.json`: the error
answers of the official Bot API server, taken from its source, and what python-telegram-bot
makes of them. Each entry is provoked here through real HTTP: once with a bare HTTP client (the
stand-in's answer must equal the entry: status, error_code, description, parameters) and once
with PTB (its exception must be what errors.json says PTB makes of the answer).
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import telegram
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)

from bot.sandbox import BotApiSandbox
from bot.sandbox.content_rules import user_text
from bot.sandbox.errors import bad_request

VENDORED = Path(__file__).with_name("telegram_errors.json")
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "telegram" / "errors.json"
ERRORS = json.loads(VENDORED.read_text(encoding="utf-8"))
WRONG_TOKEN = "999:WRONG"
ANNA = 1001

Api = Callable[..., Awaitable[Any]]
Case = Callable[[BotApiSandbox, telegram.Bot, Api], Awaitable[Any]]
CASES: dict[str, Case] = {}


def provokes(description: str) -> Callable[[Case], Case]:
    def register(case: Case) -> Case:
        CASES[description] = case
        return case

    return register


# --- one way to provoke each answer ------------------------------------------------------------


@provokes(
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
async def _not_modified(sandbox, bot, api):
    sent = await bot.send_message(ANNA, "uno")
    return await api(
        "editMessageText", {"chat_id": ANNA, "message_id": sent.message_id, "text": "uno"}
    )


@provokes("Bad Request: message to edit not found")
async def _edit_not_found(sandbox, bot, api):
    return await api("editMessageText", {"chat_id": ANNA, "message_id": 999, "text": "x"})


@provokes("Bad Request: message can't be edited")
async def _not_editable(sandbox, bot, api):
    anna = sandbox.user(ANNA)
    typed = sandbox.world.store_message(anna.chat, anna.profile, body=user_text("ciao"))
    return await api(
        "editMessageText", {"chat_id": ANNA, "message_id": typed.message_id, "text": "x"}
    )


@provokes("Bad Request: message to delete not found")
async def _delete_not_found(sandbox, bot, api):
    return await api("deleteMessage", {"chat_id": ANNA, "message_id": 999})


@provokes("Bad Request: message can't be deleted")
async def _not_deletable(sandbox, bot, api):
    sent = await bot.send_message(ANNA, "uno")
    real_clock = sandbox.clock
    sandbox.clock = lambda: real_clock() + 49 * 3600
    return await api("deleteMessage", {"chat_id": ANNA, "message_id": sent.message_id})


@provokes("Bad Request: message text is empty")
async def _text_empty(sandbox, bot, api):
    return await api("sendMessage", {"chat_id": ANNA, "text": " \n "})


@provokes("Bad Request: message is too long")
async def _text_too_long(sandbox, bot, api):
    return await api("sendMessage", {"chat_id": ANNA, "text": "x" * 4097})


@provokes("Bad Request: message caption is too long")
async def _caption_too_long(sandbox, bot, api):
    photo = "https://example.org/photo.jpg"
    return await api("sendPhoto", {"chat_id": ANNA, "photo": photo, "caption": "x" * 1025})


@provokes('Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 0')
async def _unsupported_tag(sandbox, bot, api):
    html = {"chat_id": ANNA, "text": "<div>x</div>", "parse_mode": "HTML"}
    return await api("sendMessage", html)


@provokes("Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"")
async def _unclosed_tag(sandbox, bot, api):
    return await api("sendMessage", {"chat_id": ANNA, "text": "<b>x", "parse_mode": "HTML"})


@provokes("Bad Request: chat not found")
async def _chat_not_found(sandbox, bot, api):
    return await api("sendMessage", {"chat_id": 999_999, "text": "x"})


@provokes("Bad Request: BUTTON_DATA_INVALID")
async def _button_data(sandbox, bot, api):
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "x" * 65}]]}
    return await api("sendMessage", {"chat_id": ANNA, "text": "x", "reply_markup": markup})


@provokes("Bad Request: query is too old and response timeout expired or query ID is invalid")
async def _old_query(sandbox, bot, api):
    return await api("answerCallbackQuery", {"callback_query_id": "4242"})


@provokes("Bad Request: group chat was upgraded to a supergroup chat")
async def _migrated(sandbox, bot, api):
    sandbox.migrate_chat(-100, -1001234567890)
    return await api("sendMessage", {"chat_id": -100, "text": "x"})


@provokes("Bad Request: wrong file identifier/HTTP URL specified")
async def _wrong_file(sandbox, bot, api):
    return await api("sendPhoto", {"chat_id": ANNA, "photo": "not-a-file-id"})


@provokes("Bad Request: failed to get HTTP URL content")
async def _url_unreachable(sandbox, bot, api):
    photo = "https://photos.example.invalid/photo.jpg"
    return await api("sendPhoto", {"chat_id": ANNA, "photo": photo})


@provokes("Unauthorized")
async def _wrong_token(sandbox, bot, api):
    return await api("getMe", {}, token=WRONG_TOKEN)


@provokes("Forbidden: bot was blocked by the user")
async def _blocked(sandbox, bot, api):
    sandbox.user(ANNA).block()
    return await api("sendMessage", {"chat_id": ANNA, "text": "x"})


@provokes("Forbidden: user is deactivated")
async def _deactivated(sandbox, bot, api):
    sandbox.user(ANNA).delete_account()
    return await api("sendMessage", {"chat_id": ANNA, "text": "x"})


@provokes("Forbidden: bot can't initiate conversation with a user")
async def _never_started(sandbox, bot, api):
    sandbox.user(1002, started=False)
    return await api("sendMessage", {"chat_id": 1002, "text": "x"})


@provokes("Forbidden: bot was kicked from the group chat")
async def _kicked(sandbox, bot, api):
    sandbox.group(-200)
    sandbox.remove_bot_from_group(-200)
    return await api("sendMessage", {"chat_id": -200, "text": "x"})


@provokes("Not Found")
async def _unknown_method(sandbox, bot, api):
    return await api("noSuchMethod", {})


@provokes(
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
async def _second_poller(sandbox, bot, api):
    before = sandbox.queue.begin_poll()
    first = asyncio.create_task(api("getUpdates", {"timeout": 10}))
    await sandbox.wait_until(lambda: sandbox.queue.is_superseded(before))  # the first is waiting
    await raw_api(sandbox)("getUpdates", {"timeout": 0})  # another instance polls
    return await first


@provokes(
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)
async def _poll_with_webhook(sandbox, bot, api):
    await bot.set_webhook("https://bot.example.org/hook")
    return await api("getUpdates", {})


@provokes("Too Many Requests: retry after 7")
async def _flood(sandbox, bot, api):
    sandbox.group(-300)
    sandbox.set_flood_limits(per_group_per_minute=1, retry_after=7)
    await bot.send_message(-300, "first")
    return await api("sendMessage", {"chat_id": -300, "text": "second"})


# --- the two clients -----------------------------------------------------------------------------


def raw_api(sandbox: BotApiSandbox) -> Api:
    """A bare HTTP client: the answer as it is on the wire (status and JSON body)."""

    async def call(method: str, params: dict, token: str | None = None) -> tuple[int, dict]:
        url = f"{sandbox.url}/bot{token or sandbox.token}/{method}"
        async with aiohttp.ClientSession() as session, session.post(url, json=params) as answer:
            return answer.status, await answer.json()

    return call


def ptb_api(sandbox: BotApiSandbox, bot: telegram.Bot) -> Api:
    """PTB's request layer: the exception it raises for the answer."""

    async def call(method: str, params: dict, token: str | None = None) -> Any:
        client = bot if token is None else telegram.Bot(token, base_url=sandbox.base_url)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "use Bot.send_message instead": on purpose here
            return await client.do_api_request(method, api_kwargs=params)

    return call


def ptb_message(description: str) -> str:
    """What errors.json's client_side says PTB makes of a description."""
    text = description
    for prefix in ("Error: ", "[Error]: ", "Bad Request: "):
        text = text.removeprefix(prefix)
    return text.capitalize() if text != description else text


PTB_CLASSES = {400: BadRequest, 401: InvalidToken, 403: Forbidden, 404: InvalidToken, 409: Conflict}


def answered_by_the_request_layer(error: TelegramError) -> TelegramError:
    """do_api_request re-raises 401/404 (InvalidToken) with its own words: take the original."""
    cause = error.__cause__
    return cause if isinstance(cause, TelegramError) else error


# --- the tests -----------------------------------------------------------------------------------

ENTRIES = {entry["description"]: entry for entry in ERRORS["errors"]}


def test_every_entry_of_errors_json_is_provoked():
    assert sorted(ENTRIES) == sorted(CASES)


@pytest.fixture
def anna(sandbox):
    return sandbox.user(ANNA, "Anna")


@pytest.mark.usefixtures("anna")
@pytest.mark.parametrize("description", sorted(CASES))
async def test_the_stand_in_answers_as_the_official_server(sandbox, bot, description):
    entry = ENTRIES[description]
    status, body = await CASES[description](sandbox, bot, raw_api(sandbox))
    expected = {"ok": False, "error_code": entry["code"], "description": entry["description"]}
    if "parameters" in entry:
        expected["parameters"] = entry["parameters"]
    assert (status, body) == (entry["code"], expected)


@pytest.mark.usefixtures("anna")
@pytest.mark.parametrize("description", sorted(CASES))
async def test_ptb_reads_the_answer_as_errors_json_says(sandbox, bot, description):
    entry = ENTRIES[description]
    with pytest.raises(TelegramError) as raised:
        await CASES[description](sandbox, bot, ptb_api(sandbox, bot))
    error = answered_by_the_request_layer(raised.value)
    parameters = entry.get("parameters", {})
    if "migrate_to_chat_id" in parameters:
        assert isinstance(error, ChatMigrated)
        assert error.new_chat_id == parameters["migrate_to_chat_id"]
    elif "retry_after" in parameters:
        assert isinstance(error, RetryAfter)
        assert error.retry_after == timedelta(seconds=parameters["retry_after"])
    else:
        assert type(error) is PTB_CLASSES[entry["code"]]
        assert error.message == ptb_message(entry["description"])


def test_ptb_message_follows_the_documented_examples():
    """errors.json's client_side gives three examples of PTB's reading."""
    assert ptb_message("Bad Request: chat not found") == "Chat not found"
    assert ptb_message("Bad Request: BUTTON_DATA_INVALID") == "Button_data_invalid"
    blocked = "Forbidden: bot was blocked by the user"
    assert ptb_message(blocked) == blocked
    for example in ("Message is not modified", "Chat not found", "Button_data_invalid"):
        assert example in ERRORS["client_side"]


@pytest.mark.skipif(
    not SHARED.exists(), reason="shared/telegram/errors.json is not beside the clone"
)
def test_the_copy_equals_shared_errors_json():
    assert json.loads(SHARED.read_text(encoding="utf-8")) == ERRORS


@pytest.mark.parametrize(
    ("text", "answered"),
    [
        ("Message is too long", "message is too long"),
        ("BUTTON_DATA_INVALID", "BUTTON_DATA_INVALID"),
        ("PEER_ID_INVALID", "PEER_ID_INVALID"),
        (
            "can't parse entities: Unsupported start tag",
            "can't parse entities: Unsupported start tag",
        ),
    ],
)
def test_texts_follow_the_servers_lower_casing_rule(text, answered):
    """errors.json's rule: the first letter after the prefix is lower-cased unless the second
    character is upper case or '_'."""
    assert bad_request(text).description == f"Bad Request: {answered}"
