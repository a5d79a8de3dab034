"""The sender's transport tells apart a request that never left from one that may have
reached Telegram, against the stand-in's fault modes and a port nobody listens on."""

from __future__ import annotations

import socket

import pytest
import telegram
from telegram.error import InvalidToken, NetworkError

from bot.delivery.transport import (
    AiohttpRequest,
    AnswerLost,
    AnswerTimedOut,
    NotSent,
    PreparedCall,
    UnexpectedAnswer,
    post_prepared,
)


@pytest.fixture
async def sender_bot(sandbox):
    sandbox.user(1001, "Anna")
    request = AiohttpRequest(read_timeout=0.5, connect_timeout=2)
    async with telegram.Bot(sandbox.token, base_url=sandbox.base_url, request=request) as bot:
        yield bot


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_connection_refused_means_not_sent():
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NotSent):
            await request.post(f"http://127.0.0.1:{closed_port()}/botX/getMe")
    finally:
        await request.shutdown()


@pytest.mark.parametrize("mode", ["drop_before", "drop_after"])
async def test_a_connection_dropped_after_the_request_was_written_may_have_been_sent(
    sandbox, sender_bot, mode
):
    sandbox.fail_next("sendMessage", mode=mode)
    with pytest.raises(AnswerLost) as raised:
        await sender_bot.send_message(1001, "x")
    assert not isinstance(raised.value, NotSent)


async def test_an_answer_later_than_the_read_timeout_may_have_been_sent(sandbox, sender_bot):
    sandbox.fail_next("sendMessage", mode="hang_after", hang_s=5)
    with pytest.raises(AnswerTimedOut):
        await sender_bot.send_message(1001, "x")
    assert len(sandbox.user(1001).bot_messages) == 1


async def test_a_200_that_is_not_the_bot_api_answer_is_unexpected(sandbox, sender_bot):
    sandbox.fail_next("sendMessage", mode="not_json")
    with pytest.raises(UnexpectedAnswer) as raised:
        await sender_bot.send_message(1001, "x")
    assert raised.value.maybe_sent and "HTTP 200" in raised.value.message
    assert "Service temporarily unavailable" in raised.value.message


async def test_unknown_error_codes_are_unexpected_and_not_sent(sandbox, sender_bot):
    sandbox.fail_next("sendMessage", error_code=418, description="I'm a teapot")
    with pytest.raises(UnexpectedAnswer) as raised:
        await sender_bot.send_message(1001, "x")
    assert not raised.value.maybe_sent and "418" in raised.value.message


async def test_server_errors_and_401_keep_their_meaning(sandbox, sender_bot):
    sandbox.fail_next("sendMessage", error_code=500)
    with pytest.raises(NetworkError, match="Internal Server Error") as raised:
        await sender_bot.send_message(1001, "x")
    assert not isinstance(raised.value, AnswerLost | NotSent)
    sandbox.fail_next("sendMessage", error_code=401)
    with pytest.raises(InvalidToken):
        await sender_bot.send_message(1001, "x")
    assert (await sender_bot.send_message(1001, "ok")).text == "ok"


FAULTS = [
    {"error_code": 429, "retry_after": 3},
    {"error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    {"error_code": 400, "description": "Bad Request: chat not found"},
    {"error_code": 401},
    {"error_code": 500},
    {"error_code": 502},
    {"error_code": 418, "description": "I'm a teapot"},
    {"mode": "not_json"},
    {"mode": "drop_after"},
    {"mode": "drop_before"},
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: str(fault)[:40])
async def test_the_senders_prepared_call_fails_exactly_as_send_message(sandbox, sender_bot, fault):
    """The sender's hot path skips PTB's objects, not PTB's reading of Telegram's answers."""
    errors = []
    for send in (
        lambda: sender_bot.send_message(1001, "x"),
        lambda: post_prepared(
            sender_bot, "sendMessage", PreparedCall({"chat_id": 1001, "text": "x"})
        ),
    ):
        sandbox.fail_next("sendMessage", **fault)
        with pytest.raises(telegram.error.TelegramError) as raised:
            await send()
        errors.append(raised.value)
    by_bot, prepared = errors
    assert type(prepared) is type(by_bot)
    assert prepared.message == by_bot.message
    assert getattr(prepared, "retry_after", None) == getattr(by_bot, "retry_after", None)


async def test_a_prepared_call_sends_what_send_message_sends(sandbox, sender_bot):
    buttons = {"inline_keyboard": [[{"text": "👍", "callback_data": "fb:1:u"}]]}
    call = PreparedCall(
        {
            "chat_id": 1001,
            "text": "<b>Notizia</b> & più",
            "parse_mode": "HTML",
            "reply_markup": buttons,
            "link_preview_options": {"is_disabled": True},
        }
    )
    result = await post_prepared(sender_bot, "sendMessage", call)
    shown = sandbox.user(1001).bot_messages[-1]
    assert result["message_id"] == shown.message_id
    assert shown.text == "Notizia & più"
    assert shown.parse_mode == "HTML" and shown.html == "<b>Notizia</b> & più"
    assert shown.buttons == [[("👍", "fb:1:u")]]


async def test_a_prepared_call_reports_when_it_is_written(sandbox, sender_bot):
    written: list[int] = []
    call = PreparedCall({"chat_id": 1001, "text": "x"}, on_written=lambda: written.append(1))
    await post_prepared(sender_bot, "sendMessage", call)
    assert written  # the rate limiter counts the message from then
