"""Replies to people: answers to button presses are never held back, messages share the
sender's budget and go before its deliveries, and one person's updates keep their order."""

from __future__ import annotations

import asyncio
import time

from telegram.error import RetryAfter

from bot.delivery.ratelimit import RateLimiter, is_message_method
from bot.delivery.replies import PerUserUpdateProcessor, ReplyRateLimiter
from tests.conftest import eventually
from tests.test_delivery_rules import FakeTime

MESSAGES = ("sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto")


def _messages(sandbox) -> int:
    return sum(sandbox.count(method) for method in MESSAGES)


async def test_a_press_is_answered_while_messages_wait_for_the_shared_budget(
    running_bot, composed, sandbox
):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    shown = _messages(sandbox)
    composed.sender.limiter.pause(5)  # as after a 429 to one of the sender's deliveries
    await anna.press("Segui una strategia", expect_reply=False)

    async def answered():
        return anna.callback_answers

    assert await eventually(answered, timeout=20)
    assert _messages(sandbox) == shown, "a reply went out during the sender's pause"

    async def updated():
        return _messages(sandbox) > shown

    assert await eventually(updated, timeout=30)


def test_the_shipped_bot_handles_updates_concurrently_with_the_shared_limiter(composed):
    application = composed.application
    assert isinstance(application.update_processor, PerUserUpdateProcessor)
    assert application.update_processor.max_concurrent_updates == 256
    limiter = application.bot.rate_limiter
    assert isinstance(limiter, ReplyRateLimiter)
    assert limiter._limiter is composed.sender.limiter


def test_only_messages_count_against_the_limits():
    assert all(is_message_method(name) for name in (*MESSAGES, "copyMessage", "forwardMessage"))
    for name in ("answerCallbackQuery", "sendChatAction", "getMe", "setMyCommands", "getFile"):
        assert not is_message_method(name)


async def test_answers_to_presses_never_wait():
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    limiter.pause(600)
    replies = ReplyRateLimiter(limiter)

    async def answer():
        return True

    data = {"callback_query_id": "1"}
    assert await replies.process_request(answer, (), {}, "answerCallbackQuery", data, None)
    assert clock.now == 100.0
    assert await replies.process_request(answer, (), {}, "sendMessage", {"chat_id": 7}, None)
    assert clock.now == 700.0


async def test_a_429_pauses_and_the_message_goes_once_it_has_passed():
    clock = FakeTime()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)
    replies = ReplyRateLimiter(limiter)
    attempts: list[float] = []

    async def send():
        attempts.append(clock.now)
        if len(attempts) == 1:
            raise RetryAfter(12)
        return {"message_id": 1}

    await replies.process_request(send, (), {}, "sendMessage", {"chat_id": 7}, None)
    assert attempts == [100.0, 112.0]


async def test_a_reply_takes_the_next_turn_before_waiting_deliveries():
    limiter = RateLimiter(2, per_chat_interval_s=None)
    released: list[str] = []

    async def wait(name: str, chat: int, urgent: bool) -> None:
        await limiter.wait_turn(chat, urgent=urgent)
        released.append(name)

    await wait("first", 1, False)
    await wait("second", 2, False)  # the budget of this second is used up
    deliveries = [asyncio.create_task(wait(f"delivery {n}", 10 + n, False)) for n in range(2)]
    await asyncio.sleep(0.05)
    reply = asyncio.create_task(wait("reply", 99, True))
    await asyncio.gather(reply, *deliveries)
    assert released[:3] == ["first", "second", "reply"]


async def test_one_persons_updates_keep_their_order_others_go_meanwhile():
    processor = PerUserUpdateProcessor(16)
    started: list[str] = []
    gate = asyncio.Event()

    async def handle(name: str, wait: bool) -> None:
        started.append(name)
        if wait:
            await gate.wait()

    def press(user: int, update_id: int):
        from telegram import CallbackQuery, Update, User

        person = User(user, "Citizen", is_bot=False)
        return Update(update_id, callback_query=CallbackQuery(str(update_id), person, "x"))

    first = asyncio.create_task(processor.process_update(press(1, 1), handle("anna 1", True)))
    second = asyncio.create_task(processor.process_update(press(1, 2), handle("anna 2", False)))
    other = asyncio.create_task(processor.process_update(press(2, 3), handle("bruno", False)))
    await other
    assert started == ["anna 1", "bruno"]
    gate.set()
    await asyncio.gather(first, second)
    assert started == ["anna 1", "bruno", "anna 2"]


async def test_new_messages_keep_to_the_per_chat_limit_edits_follow_the_reader():
    clock = FakeTime()
    limiter = RateLimiter(None, per_chat_interval_s=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(30):  # a wizard's screen edited at each press
        await limiter.wait_turn(7, urgent=True, in_chat_limit=False)
    assert clock.now == 100.0
    for _ in range(10):  # a short burst of new messages, as Telegram allows
        await limiter.wait_turn(7, urgent=True)
    assert clock.now == 100.0
    await limiter.wait_turn(7, urgent=True)  # then one a second on average
    assert clock.now > 110.0
    await limiter.wait_turn(7)  # a delivery: one a second
    assert clock.now > 111.0


async def test_a_reply_written_late_counts_from_when_it_left(running_bot, composed, sandbox):
    """The shipped application tells the limiter when a reply is written: a busy loop between
    its turn and its write does not let the chat's next message come sooner than a second
    after the reply really left."""
    sandbox.user(1001, first_name="Anna", language_code="it")
    request = running_bot.bot.request
    write = request.do_request
    busy_until: list[float] = []

    async def busy_then_write(*args, **kwargs):
        time.sleep(0.2)  # the loop is busy between the reply's turn and its write
        busy_until.append(time.monotonic())
        return await write(*args, **kwargs)

    request.do_request = busy_then_write
    try:
        await running_bot.bot.send_message(1001, "Grazie!")
    finally:
        del request.do_request
    delivery = await composed.sender.limiter.wait_turn(1001)
    assert delivery.at >= busy_until[0] + 1.0
