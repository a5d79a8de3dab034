"""getUpdates semantics and webhook delivery."""

from __future__ import annotations

import asyncio
import time

import pytest
import telegram
from aiohttp import web
from telegram.error import Conflict

from bot.sandbox.webhook import SECRET_HEADER


async def test_get_updates_offset_limit_and_long_poll(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    sends = asyncio.gather(*(anna.send(f"m{i}", expect_reply=False, settle=0) for i in range(3)))
    first = await bot.get_updates(limit=2, timeout=1)
    assert [u.message.text for u in first] == ["m0", "m1"]
    rest = await bot.get_updates(offset=first[-1].update_id + 1, timeout=1)
    assert [u.message.text for u in rest] == ["m2"]
    await sends
    assert rest[0].update_id > first[-1].update_id > first[0].update_id
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == ()

    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(offset=rest[-1].update_id + 1, timeout=5))
    await asyncio.sleep(0.1)
    await anna.send("wake up", expect_reply=False, settle=0)
    woken = await poll
    assert [u.message.text for u in woken] == ["wake up"]
    assert time.monotonic() - started < 2


async def test_allowed_updates_filter(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    await bot.get_updates(allowed_updates=["callback_query"])
    await bot.send_message(
        1001, "x", reply_markup={"inline_keyboard": [[{"text": "Ok", "callback_data": "ok"}]]}
    )
    await anna.send("ignored", expect_reply=False, settle=0)
    pressing = asyncio.create_task(anna.press("Ok", expect_reply=False, settle=0))
    updates = await bot.get_updates(timeout=1)
    await pressing
    assert [u.callback_query.data for u in updates] == ["ok"]


async def test_message_updates_carry_entities_replies_and_forwards(bot, sandbox):
    anna = sandbox.user(1001, "Anna", username="anna_r", language_code="it")
    sent = await bot.send_message(1001, "Domanda?")
    actions = asyncio.gather(
        anna.send("/start@psm_test_bot zone", expect_reply=False, settle=0),
        anna.reply("Risposta", to=sent.message_id, expect_reply=False, settle=0),
        anna.forward_text(
            "Notizia", from_chat=-1009, from_chat_title="Comune", expect_reply=False, settle=0
        ),
    )
    updates = await bot.get_updates(timeout=1)
    await actions
    command, reply, forward = (u.message for u in updates)
    assert command.entities[0].type == "bot_command" and command.entities[0].length == 19
    assert command.from_user.language_code == "it" and command.from_user.username == "anna_r"
    assert reply.reply_to_message.text == "Domanda?" and reply.reply_to_message.from_user.is_bot
    assert forward.forward_origin.chat.title == "Comune"


async def test_second_poller_terminates_the_first(bot, sandbox):
    waiting = asyncio.create_task(bot.get_updates(timeout=3))
    await asyncio.sleep(0.1)
    async with telegram.Bot(sandbox.token, base_url=sandbox.base_url) as second_instance:
        assert await second_instance.get_updates() == ()
    with pytest.raises(Conflict, match=r"terminated by other getUpdates request"):
        await waiting


async def test_user_actions_time_out_without_a_bot(sandbox):
    anna = sandbox.user(1001, "Anna")
    with pytest.raises(TimeoutError, match=r"never fetched"):
        await anna.send("c'è qualcuno?", timeout=0.2)


class Receiver:
    """A tiny webhook endpoint that fails its first ``failures`` deliveries."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[dict, str | None]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.failures:
            self.failures -= 1
            return web.Response(status=500)
        self.received.append((await request.json(), request.headers.get(SECRET_HEADER)))
        return web.Response(text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.runner.cleanup()


async def test_webhook_delivery_with_secret_token_and_retries(bot, sandbox):
    sandbox.webhook.retry_delay = 0.01
    anna = sandbox.user(1001, "Anna")
    async with Receiver(failures=2) as receiver:
        assert await bot.set_webhook(
            receiver.url, secret_token="s3cr3t_TOKEN", allowed_updates=["message"]
        )
        with pytest.raises(Conflict, match=r"can't use getUpdates method while webhook is active"):
            await bot.get_updates()
        await anna.send("via webhook", expect_reply=False)
        info = await bot.get_webhook_info()
        assert info.url == receiver.url and info.pending_update_count == 0
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )
        assert info.allowed_updates == ("message",)
        [(update, secret)] = receiver.received
        assert secret == "s3cr3t_TOKEN" and update["message"]["text"] == "via webhook"
        assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates() == ()


async def test_webhook_parameters_are_checked_and_pending_updates_dropped(bot, sandbox):
    anna = sandbox.user(1001, "Anna")
    with pytest.raises(Exception, match=r"(?i)secret token contains unallowed characters"):
        await bot.set_webhook("https://example.org/hook", secret_token="no spaces!")
    with pytest.raises(Exception, match=r"(?i)https url must be provided"):
        await bot.set_webhook("ftp://example.org/hook")
    sending = asyncio.create_task(anna.send("old", expect_reply=False, timeout=1))
    await asyncio.sleep(0.05)
    assert sandbox.pending_updates == 1
    await bot.delete_webhook(drop_pending_updates=True)
    await sending
    assert sandbox.pending_updates == 0 and await bot.get_updates() == ()
