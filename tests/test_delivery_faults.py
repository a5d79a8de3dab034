"""The faults Telegram's network really produces, injected by the stand-in with fixed seeds:
every recipient ends delivered or *in doubt* (never both unknown and resent), nobody receives
a message twice, nothing stays claimed or sending, and the sender is still running."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections import Counter

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.app import build_sender
from bot.db.models import (
    Delivery,
    DeliveryState,
    NotificationKind,
    Subscriber,
    Subscription,
    TargetKind,
)
from bot.delivery.sender import Sender, SenderConfig
from bot.metrics import Metrics
from bot.runtime import Deployment, run_until_signalled, sending
from bot.services import outbox
from bot.services.outbox import NewNotification
from tests.conftest import compose_against, eventually

FIRST_USER = 50_000
FAST = SenderConfig(
    messages_per_second=150,
    per_chat_interval_s=None,
    retry_base_s=0.05,
    retry_cap_s=0.5,
    idle_sleep_s=0.05,
    read_timeout_s=5.0,  # a loaded machine answers late too; hang tests shorten it
    token_probe_s=0.1,
)
SETTLED = {DeliveryState.SENT, DeliveryState.IN_DOUBT}


@pytest.fixture
def make_sender(settings, db, sandbox):
    def make(config: SenderConfig = FAST, sender_class: type[Sender] = Sender) -> Sender:
        sender = build_sender(
            settings,
            db,
            base_url=sandbox.base_url,
            base_file_url=sandbox.base_file_url,
            config=config,
        )
        return sender_class(sender.db, sender.bot, config, metrics=Metrics())

    return make


async def broadcast_to(db, sandbox, recipients: int, key: str = "faults") -> list[int]:
    """`recipients` followers of Genova (added in bulk) and one broadcast to them."""
    users = list(range(FIRST_USER, FIRST_USER + recipients))
    async with db.transaction() as session:
        followers = [
            Subscriber(telegram_user_id=user, chat_id=user, language="it", active=True)
            for user in users
        ]
        session.add_all(followers)
        await session.flush()
        session.add_all(
            Subscription(
                subscriber_id=row.id, target_kind=TargetKind.ZONE.value, target_id="genova"
            )
            for row in followers
        )
        await outbox.enqueue(
            session,
            NewNotification(
                kind=NotificationKind.BROADCAST,
                source_key=key,
                template="text",
                payload={"html": "Convocazione: incontro pubblico sul Piano"},
                tags=[("zone", "genova")],
            ),
        )
    for user in users:
        sandbox.user(user, first_name="Citizen", language_code="it")
    return users


async def rows(db) -> list[Delivery]:
    async with db.transaction() as session:
        return list(await session.scalars(select(Delivery)))


async def states_now(db) -> Counter:
    async with db.transaction() as session:
        counted = await session.execute(
            select(Delivery.state, func.count()).group_by(Delivery.state)
        )
        return Counter(dict(counted.all()))


async def all_settled(db, recipients: int) -> bool:
    states = await states_now(db)
    return sum(states.values()) == recipients and set(states) <= SETTLED


async def deliver_through_faults(db, sender: Sender, recipients: int, timeout: float = 90):
    """The sender as `run` starts it, until every delivery is settled; it must still run."""
    async with sending(sender) as task:
        settled = await eventually(
            lambda: all_settled(db, recipients), timeout=timeout, interval=0.25
        )
        assert not task.done(), "the sender stopped"
    return settled


async def assert_nothing_twice_nothing_stuck(db, sandbox, users: list[int]) -> Counter:
    found = await rows(db)
    states = Counter(row.state for row in found)
    assert set(states) <= SETTLED, f"not settled: {states}"
    received = {user: len(sandbox.user(user).bot_messages) for user in users}
    assert max(received.values()) <= 1, "somebody received the broadcast twice"
    in_doubt = {row.chat_id for row in found if row.state == DeliveryState.IN_DOUBT}
    for row in found:
        if row.state == DeliveryState.SENT:
            assert received[row.chat_id] == 1
            assert sandbox.user(row.chat_id).last_bot_message.message_id == row.message_id
    assert {user for user, count in received.items() if count == 0} <= in_doubt
    return states


async def test_no_faults(db, sandbox, make_sender):
    users = await broadcast_to(db, sandbox, 100)
    assert await deliver_through_faults(db, make_sender(), len(users))
    states = await assert_nothing_twice_nothing_stuck(db, sandbox, users)
    assert states == {DeliveryState.SENT: 100}


@pytest.mark.parametrize(("mode", "shown"), [("drop_before", 0), ("drop_after", 1)])
async def test_a_dropped_connection_is_in_doubt_and_not_resent(
    db, sandbox, make_sender, mode, shown
):
    (user,) = await broadcast_to(db, sandbox, 1)
    sandbox.fail_next("sendMessage", mode=mode)
    assert await deliver_through_faults(db, make_sender(), 1)
    (row,) = await rows(db)
    assert (row.state, row.attempts) == (DeliveryState.IN_DOUBT, 1)
    assert row.error.startswith("may have been sent")
    assert len(sandbox.user(user).bot_messages) == shown
    assert sandbox.count("sendMessage") == 1


async def test_server_errors_dropped_connections_and_429_storms(db, sandbox, make_sender):
    users = await broadcast_to(db, sandbox, 300)
    sandbox.fail_randomly(0.025, "sendMessage", error_code=500, seed=1)
    sandbox.fail_randomly(0.025, "sendMessage", error_code=502, seed=1)
    sandbox.fail_randomly(0.01, "sendMessage", mode="drop_before", seed=1)
    sandbox.fail_randomly(0.01, "sendMessage", mode="drop_after", seed=1)
    sandbox.storm_429(every_s=6, lasting_s=3)  # at once, then 6 s later, …
    sender = make_sender()
    assert await deliver_through_faults(db, sender, len(users))
    states = await assert_nothing_twice_nothing_stuck(db, sandbox, users)
    answers = Counter(_answer(call) for call in sandbox.calls if call.method == "sendMessage")
    assert answers[500] and answers[502] and answers[429], answers
    # Only the dropped connections are in doubt: 5xx and 429 proved nothing was sent.
    assert 0 < states[DeliveryState.IN_DOUBT] <= 0.05 * len(users)
    in_doubt = [row for row in await rows(db) if row.state == DeliveryState.IN_DOUBT]
    assert all(row.error.startswith("may have been sent") for row in in_doubt)


async def test_answers_late_after_telegram_took_the_request(db, sandbox, make_sender):
    users = await broadcast_to(db, sandbox, 300)
    sandbox.fail_randomly(0.01, "sendMessage", mode="hang_after", hang_s=15, seed=1)
    sender = make_sender(dataclasses.replace(FAST, read_timeout_s=1.0))
    assert await deliver_through_faults(db, sender, len(users))
    states = await assert_nothing_twice_nothing_stuck(db, sandbox, users)
    # Each late answer was a message shown: in doubt, and received exactly once.
    in_doubt = [row for row in await rows(db) if row.state == DeliveryState.IN_DOUBT]
    assert states[DeliveryState.IN_DOUBT] >= 1
    assert all(len(sandbox.user(row.chat_id).bot_messages) == 1 for row in in_doubt)


async def test_answers_that_are_not_json(db, sandbox, make_sender):
    users = await broadcast_to(db, sandbox, 300)
    sandbox.fail_randomly(0.005, "sendMessage", mode="not_json", seed=4)
    assert await deliver_through_faults(db, make_sender(), len(users))
    states = await assert_nothing_twice_nothing_stuck(db, sandbox, users)
    in_doubt = [row for row in await rows(db) if row.state == DeliveryState.IN_DOUBT]
    assert states[DeliveryState.IN_DOUBT] >= 1
    assert all("unexpected answer from Telegram (HTTP 200)" in row.error for row in in_doubt), [
        row.error for row in in_doubt
    ]


async def test_401_stops_sending_hands_back_and_resumes(db, sandbox, make_sender, caplog):
    users = await broadcast_to(db, sandbox, 300)
    sandbox.fail_randomly(0.005, "sendMessage", error_code=401, seed=6)
    sender = make_sender()
    with caplog.at_level(logging.WARNING):
        assert await deliver_through_faults(db, sender, len(users))
    states = await assert_nothing_twice_nothing_stuck(db, sandbox, users)
    assert states == {DeliveryState.SENT: 300}  # a 401 means nothing was done: sent again
    refusals = sum(1 for call in sandbox.calls if _answer(call) == 401)
    assert refusals >= 1
    assert _metric(sender, "psm_telegram_401_total") == refusals
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("token" in text and "401" in text for text in errors), errors


async def test_a_revoked_token_fails_the_health_check_until_it_works_again(
    settings, db, sandbox, caplog
):
    port = _free_port()
    settings = dataclasses.replace(settings, port=port, listen="127.0.0.1")
    bot = compose_against(sandbox, settings, db, Deployment(receive="none"))
    bot.sender.config = FAST
    stop = asyncio.Event()
    task = asyncio.create_task(run_until_signalled(bot, stop=stop))
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as client:

            async def health() -> int | None:
                try:
                    async with client.get("/healthz") as response:
                        return response.status
                except aiohttp.ClientConnectionError:
                    return None

            assert await eventually(lambda: _is(health, 200), timeout=20)
            sandbox.fail_next(error_code=401, count=10_000)  # sends and getMe probes alike
            users = await broadcast_to(db, sandbox, 40, key="revoked")
            bot.sender.wake()
            assert await eventually(lambda: _is(health, 503), timeout=20)
            assert await eventually(lambda: _all_pending(db, len(users)), timeout=20)
            assert await eventually(lambda: _getme_refused(sandbox), timeout=20)  # it asks
            sandbox.faults.clear()  # the token works again
            assert await eventually(lambda: all_settled(db, len(users)), timeout=30)
            assert await health() == 200
        states = await assert_nothing_twice_nothing_stuck(db, sandbox, users)
        assert states == {DeliveryState.SENT: 40}
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert any("works again" in r.getMessage() for r in caplog.records)


class FailsOnFirstStart(Sender):
    """A sender whose first start dies of an error nobody foresaw."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.starts = 0

    async def recover(self) -> int:
        self.starts += 1
        if self.starts == 1:
            raise RuntimeError("an unforeseen bug")
        return await super().recover()


async def test_a_sender_that_ends_is_started_again(db, sandbox, make_sender, caplog):
    users = await broadcast_to(db, sandbox, 20)
    sender = make_sender(dataclasses.replace(FAST, restart_delay_s=0.1), FailsOnFirstStart)
    with caplog.at_level(logging.ERROR):
        assert await deliver_through_faults(db, sender, len(users))
    assert sender.starts >= 2
    assert _metric(sender, "psm_sender_restarts_total") == 1
    assert any("started again" in r.getMessage() for r in caplog.records)
    states = await assert_nothing_twice_nothing_stuck(db, sandbox, users)
    assert states == {DeliveryState.SENT: 20}


async def _all_pending(db, recipients: int) -> bool:
    """Everything handed back: no delivery left claimed or sending."""
    return await states_now(db) == Counter({DeliveryState.PENDING: recipients})


async def _getme_refused(sandbox) -> bool:
    return sandbox.count("getMe", ok=False) >= 2


def _answer(call) -> int:
    return 200 if call.ok else call.outcome.error_code


def _metric(sender: Sender, name: str) -> float:
    return sender.metrics.registry.get_sample_value(name) or 0


async def _is(probe, expected) -> bool:
    return await probe() == expected


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
