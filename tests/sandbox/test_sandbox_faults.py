"""Injected failures, flood limits, blocked users and migrated chats."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
import telegram
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def retry_seconds(error: RetryAfter) -> float:
    """retry_after is an int, or a timedelta when PTB_TIMEDELTA is set (as the bot does)."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else value


async def test_blocked_user_gives_forbidden_until_unblocked(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    anna.block()
    with pytest.raises(Forbidden, match=r"bot was blocked by the user"):
        await bot.send_message(1001, "ciao")
    assert sandbox.pending_updates == 1
    update = sandbox.queue.peek()[0].to_json()["my_chat_member"]
    assert update["old_chat_member"]["status"] == "member"
    assert update["new_chat_member"]["status"] == "kicked"
    anna.unblock()
    assert (await bot.send_message(1001, "bentornata")).text == "bentornata"
    sandbox.assert_no_rejections()


async def test_injected_429_surfaces_as_retry_after(bot, sandbox):
    sandbox.user(1001, "Anna")
    sandbox.fail_next("sendMessage", error_code=429, retry_after=7, count=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as raised:
            await bot.send_message(1001, "x")
        assert retry_seconds(raised.value) == 7
    assert (await bot.send_message(1001, "x")).text == "x"
    assert sandbox.count("sendMessage") == 3 and sandbox.count("sendMessage", ok=False) == 2
    assert sandbox.transcript(1001)[-1].text == "x"
    sandbox.assert_no_rejections()


async def test_injected_faults_match_method_and_chat(bot, sandbox):
    sandbox.user(1001, "Anna")
    sandbox.user(1002, "Bruno")
    sandbox.fail_next(error_code=403, chat_id=1002)
    sandbox.fail_next("editMessageText", error_code=500)
    assert (await bot.send_message(1001, "ok")).text == "ok"
    with pytest.raises(Forbidden):
        await bot.send_message(1002, "no")
    with pytest.raises(NetworkError, match=r"Internal Server Error"):
        await bot.edit_message_text("y", 1001, 1)
    assert (await bot.edit_message_text("y", 1001, 1)).text == "y"


async def test_dropped_connection_is_a_network_error(bot, sandbox):
    sandbox.user(1001, "Anna")
    sandbox.fail_next("sendMessage", drop_connection=True)
    with pytest.raises(NetworkError):
        await bot.send_message(1001, "x")
    assert (await bot.send_message(1001, "again")).text == "again"


async def test_chat_migration_surfaces_as_chat_migrated(bot, sandbox):
    sandbox.group(-100, "Genova")
    sandbox.migrate_chat(-100, -1001234567890)
    with pytest.raises(ChatMigrated) as raised:
        await bot.send_message(-100, "x")
    assert raised.value.new_chat_id == -1001234567890
    sent = await bot.send_message(-1001234567890, "x")
    assert sent.chat.type == "supergroup" and sent.chat.title == "Genova"
    sandbox.assert_no_rejections()


async def test_per_chat_flood_limit(bot, sandbox):
    sandbox.user(1001, "Anna")
    sandbox.user(1002, "Bruno")
    sandbox.set_flood_limits(per_chat_per_second=2, retry_after=3)
    await bot.send_message(1001, "1")
    await bot.send_message(1001, "2")
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(1001, "3")
    assert retry_seconds(raised.value) == 3
    assert sandbox.refusals == {"chat": 1}
    await bot.send_message(1002, "other chat is fine")
    assert await bot.send_chat_action(1001, "typing")
    sandbox.set_flood_limits()
    await bot.send_message(1001, "limits off")


async def test_global_flood_limit_and_paid_broadcast(bot, sandbox):
    for user_id in range(2001, 2006):
        sandbox.user(user_id, f"U{user_id}")
    sandbox.set_flood_limits(global_per_second=3)
    for user_id in range(2001, 2004):
        await bot.send_message(user_id, "news")
    with pytest.raises(RetryAfter):
        await bot.send_message(2004, "news")
    assert sandbox.refusals == {"overall": 1}
    await bot.send_message(2004, "news", allow_paid_broadcast=True)


async def test_group_flood_limit_per_minute(bot, sandbox):
    sandbox.group(-200, "Quartiere")
    sandbox.user(1001, "Anna")
    sandbox.set_flood_limits(per_group_per_minute=2)
    await bot.send_message(-200, "1")
    await bot.send_message(-200, "2")
    with pytest.raises(RetryAfter):
        await bot.send_message(-200, "3")
    assert sandbox.refusals == {"group": 1}
    for text in "abc":
        await bot.send_message(1001, text)


async def test_stale_and_reused_callback_queries(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    await bot.send_message(
        1001, "x", reply_markup={"inline_keyboard": [[{"text": "Ok", "callback_data": "ok"}]]}
    )
    first, second = await _press_twice_and_fetch(bot, anna)
    assert first.data == "ok" and first.message.text == "x" and first.chat_instance
    assert await bot.answer_callback_query(first.id, text="fatto", show_alert=True)
    with pytest.raises(
        BadRequest,
        match=r"(?i)^query is too old and response timeout expired or query id is invalid$",
    ):
        await bot.answer_callback_query(first.id)
    real_clock = sandbox.clock
    sandbox.clock = lambda: real_clock() + 16 * 60
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(second.id)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("forged-id")
    assert [(a.text, a.show_alert) for a in anna.callback_answers] == [("fatto", True)]


async def _press_twice_and_fetch(bot, user):
    """Press while a plain getUpdates call plays the bot; return both callback queries."""
    presses = asyncio.gather(
        user.press("Ok", expect_reply=False, settle=0),
        user.press("Ok", expect_reply=False, settle=0),
    )
    updates = []
    while len(updates) < 2:
        offset = updates[-1].update_id + 1 if updates else None
        updates += await bot.get_updates(offset=offset, timeout=1)
    await presses
    return [update.callback_query for update in updates]


async def test_fail_next_rejects_misspelled_methods(sandbox):
    with pytest.raises(ValueError, match="sendMesage"):
        sandbox.fail_next("sendMesage")


async def test_stop_releases_a_pending_long_poll():
    from bot.sandbox import BotApiSandbox

    sandbox = await BotApiSandbox().start()
    async with telegram.Bot(sandbox.token, base_url=sandbox.base_url) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=10))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await sandbox.stop()
        assert await poll == ()
        assert time.monotonic() - started < 2


async def test_dropped_before_acting_nothing_is_delivered(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    sandbox.fail_next("sendMessage", mode="drop_before")
    with pytest.raises(NetworkError):
        await bot.send_message(1001, "x")
    assert anna.bot_messages == []


async def test_dropped_after_acting_the_message_is_delivered(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    sandbox.fail_next("sendMessage", mode="drop_after")
    with pytest.raises(NetworkError):
        await bot.send_message(1001, "arrived, answer lost")
    assert [entry.text for entry in anna.bot_messages] == ["arrived, answer lost"]
    assert sandbox.count("sendMessage", ok=True) == 1


async def test_hang_after_acting_delivers_and_answers_late(sandbox):
    anna = sandbox.user(1001, "Anna")
    sandbox.fail_next("sendMessage", mode="hang_after", hang_s=5)
    request = telegram.request.HTTPXRequest(read_timeout=0.5)
    async with telegram.Bot(sandbox.token, base_url=sandbox.base_url, request=request) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(1001, "late")
        assert [entry.text for entry in anna.bot_messages] == ["late"]
        started = time.monotonic()
        assert (await bot.send_message(1001, "on time")).text == "on time"
        assert time.monotonic() - started < 2  # only the faulty call hangs


async def test_hang_after_acting_answers_when_the_client_waits(bot, sandbox):
    sandbox.user(1001, "Anna")
    sandbox.fail_next("sendMessage", mode="hang_after", hang_s=0.3)
    started = time.monotonic()
    assert (await bot.send_message(1001, "slow")).text == "slow"
    assert time.monotonic() - started >= 0.3


async def test_not_json_answer_after_acting(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    sandbox.fail_next("sendMessage", mode="not_json")
    with pytest.raises(telegram.error.TelegramError, match="Invalid server response"):
        await bot.send_message(1001, "x")
    assert [entry.text for entry in anna.bot_messages] == ["x"]


async def test_injected_401_uses_the_official_wording(bot, sandbox):
    sandbox.user(1001, "Anna")
    sandbox.fail_next(error_code=401, count=2)
    with pytest.raises(InvalidToken, match=r"^Unauthorized$"):
        await bot.send_message(1001, "x")
    with pytest.raises(InvalidToken):
        await bot.get_me()
    assert (await bot.get_me()).username == "psm_test_bot"


async def test_random_faults_are_repeatable_and_near_their_rate(bot, sandbox):
    for user_id in range(2000, 2200):
        sandbox.user(user_id, "U")

    async def run(seed: int) -> list[int]:
        sandbox.faults.clear()
        sandbox.fail_randomly(0.15, "sendMessage", error_code=500, seed=seed)
        failed = []
        for user_id in range(2000, 2200):
            try:
                await bot.send_message(user_id, "x")
            except NetworkError:
                failed.append(user_id)
        return failed

    first = await run(seed=7)
    assert 12 <= len(first) <= 50
    assert await run(seed=7) == first  # fresh rules, same draws
    assert await run(seed=8) != first


async def test_random_faults_of_several_kinds_are_independent(bot, sandbox):
    for user_id in range(2000, 2300):
        sandbox.user(user_id, "U")
    sandbox.fail_randomly(0.1, "sendMessage", error_code=500, seed=1)
    sandbox.fail_randomly(0.1, "sendMessage", error_code=502, seed=1)
    seen = []
    for user_id in range(2000, 2300):
        try:
            await bot.send_message(user_id, "x")
        except NetworkError as error:
            seen.append(str(error))
    assert any("Internal Server Error" in text for text in seen)
    assert any("Bad Gateway" in text for text in seen)


async def test_a_429_storm_refuses_sends_for_its_duration(bot, sandbox):
    sandbox.user(1001, "Anna")
    sandbox.storm_429(every_s=1.0, lasting_s=0.5)
    outcomes = []
    started = time.monotonic()
    while time.monotonic() - started < 2.0:
        try:
            await bot.send_message(1001, "x")
            outcomes.append("ok")
        except RetryAfter as error:
            assert 1 <= retry_seconds(error) <= 1
            outcomes.append("429")
        assert await bot.get_me()  # not a send: never refused
        await asyncio.sleep(0.05)
    assert "429" in outcomes and "ok" in outcomes
    sandbox.faults.clear()
    assert (await bot.send_message(1001, "after")).text == "after"


async def test_a_message_before_retry_after_has_passed_is_an_early_send(bot, sandbox):
    for user_id in range(2001, 2004):
        sandbox.user(user_id, f"U{user_id}")
    sandbox.set_flood_limits(global_per_second=1, retry_after=30)
    await bot.send_message(2001, "news")
    with pytest.raises(RetryAfter):
        await bot.send_message(2002, "news")
    assert sandbox.early_sends == 0
    with pytest.raises(RetryAfter):
        await bot.send_message(2003, "news")  # Telegram said to wait 30 s
    assert sandbox.early_sends == 1
    assert sandbox.refusals == {"overall": 1, "early": 1}
    await bot.send_message(2003, "news", allow_paid_broadcast=True)  # a limit of its own


async def test_latency_delays_every_answer(bot, sandbox):
    sandbox.user(2001, "U")
    sandbox.set_latency(0.2)
    started = asyncio.get_running_loop().time()
    await bot.send_message(2001, "news")
    assert asyncio.get_running_loop().time() - started >= 0.2
