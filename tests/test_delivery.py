"""The delivery engine end to end: outbox → deliveries → sender → the Bot API stand-in."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import build_sender
from bot.db.models import Delivery, DeliveryState, NotificationKind, Subscriber, TargetKind
from bot.delivery.sender import SenderConfig
from bot.services import outbox, subscriptions
from bot.services.outbox import NewNotification
from bot.services.subscriptions import Target
from tests.conftest import eventually

FAST = SenderConfig(
    messages_per_second=None, per_chat_interval_s=None, retry_base_s=0.05, idle_sleep_s=0.05
)


@pytest.fixture
def make_sender(settings, db, sandbox):
    created = []

    def make(config: SenderConfig = FAST, clock=None):
        sender = build_sender(
            settings,
            db,
            base_url=sandbox.base_url,
            base_file_url=sandbox.base_file_url,
            config=config,
        )
        if clock is not None:
            sender.clock = clock
        created.append(sender)
        return sender

    yield make


async def subscriber(db, sandbox, user_id, *follows, language="it", **preferences):
    sandbox.user(user_id, first_name=f"U{user_id}", language_code=language)
    async with db.transaction() as session:
        row, _ = await subscriptions.get_or_create_subscriber(
            session,
            telegram_user_id=user_id,
            chat_id=user_id,
            first_name=f"U{user_id}",
            language=language,
        )
        for key, value in preferences.items():
            setattr(row, key, value)
        for kind, target_id in follows:
            await subscriptions.subscribe(session, row, Target(kind, target_id))
    return row


def news(key: str, *tags, title="Nuovo bando per il Tigullio", **extra) -> NewNotification:
    payload = {
        "title": title,
        "html": "<p>Il bando è <b>aperto</b>.</p>",
        "link": "https://pianostrategico.cittametropolitana.genova.it/node/1",
        "source": "Città Metropolitana di Genova",
    }
    return NewNotification(
        kind=NotificationKind.NEWS,
        source_key=key,
        template="news",
        payload=payload,
        tags=tags,
        **extra,
    )


async def enqueue(db, *items: NewNotification) -> list[int]:
    ids = []
    async with db.transaction() as session:
        for item in items:
            notification, _ = await outbox.enqueue(session, item)
            ids.append(notification.id)
    return ids


async def deliveries(db, **where) -> list[Delivery]:
    async with db.transaction() as session:
        query = select(Delivery).order_by(Delivery.id)
        for column, value in where.items():
            query = query.where(getattr(Delivery, column) == value)
        return list(await session.scalars(query))


async def send_all(sender, wait_s: float = 5.0):
    async with sender.bot:
        await sender.run_until_idle(wait_s=wait_s)


TIGULLIO = (TargetKind.ZONE, "tigullio")
RAPALLO = (TargetKind.COMUNE, "010046")
GENOVA = (TargetKind.ZONE, "genova")


async def test_a_zone_notification_reaches_followers_of_the_zone_and_its_comuni(
    db, sandbox, make_sender
):
    await subscriber(db, sandbox, 1, TIGULLIO)
    await subscriber(db, sandbox, 2, RAPALLO)
    await subscriber(db, sandbox, 3, GENOVA)
    await subscriber(db, sandbox, 4, (TargetKind.STRATEGY, "S2"))
    await enqueue(db, news("n1", TIGULLIO))
    await send_all(make_sender())
    assert sorted(d.chat_id for d in await deliveries(db)) == [1, 2]
    assert "Nuovo bando per il Tigullio" in sandbox.user(1).last_bot_message.text
    assert sandbox.user(3).last_bot_message is None


async def test_a_comune_notification_reaches_followers_of_its_zone(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, TIGULLIO)
    await subscriber(db, sandbox, 2, GENOVA)
    await enqueue(db, news("n1", RAPALLO, (TargetKind.STRATEGY, "S4")))
    await send_all(make_sender())
    assert [d.chat_id for d in await deliveries(db)] == [1]


async def test_language_and_everyone_and_inactive(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, GENOVA, language="it")
    await subscriber(db, sandbox, 2, language="en")
    inactive = await subscriber(db, sandbox, 3, GENOVA)
    async with db.transaction() as session:
        await subscriptions.deactivate(session, inactive.id)
    everyone = NewNotification(
        kind=NotificationKind.BROADCAST,
        source_key="b1",
        template="text",
        payload={"html": {"it": "Ciao a tutti", "en": "Hello everyone"}},
        everyone=True,
        with_feedback=False,
    )
    english_only = NewNotification(
        kind=NotificationKind.BROADCAST,
        source_key="b2",
        template="text",
        payload={"html": "Only in English"},
        everyone=True,
        language="en",
        with_feedback=False,
    )
    await enqueue(db, everyone, english_only)
    await send_all(make_sender())
    assert [m.text for m in sandbox.user(1).bot_messages] == ["Ciao a tutti"]
    assert [m.text for m in sandbox.user(2).bot_messages] == ["Hello everyone", "Only in English"]
    assert sandbox.user(3).bot_messages == []


async def test_same_source_twice_is_one_notification_and_targeting_twice_adds_nobody(db, sandbox):
    await subscriber(db, sandbox, 1, GENOVA)
    first, second = await enqueue(db, news("same", GENOVA), news("same", GENOVA))
    assert first == second
    now = datetime.now(UTC)
    async with db.transaction() as session:
        notification = (await outbox.load_notifications(session, [first]))[first]
        assert await outbox.target(session, notification, now) == 1
        assert await outbox.target(session, notification, now) == 0
    assert len(await deliveries(db)) == 1


async def test_sent_deliveries_record_the_message_id_and_carry_feedback_buttons(
    db, sandbox, make_sender
):
    await subscriber(db, sandbox, 1, GENOVA)
    await enqueue(db, news("n1", GENOVA))
    await send_all(make_sender())
    (delivery,) = await deliveries(db)
    message = sandbox.user(1).last_bot_message
    assert delivery.state == DeliveryState.SENT and delivery.message_id == message.message_id
    labels = [label for row in message.buttons for label, _ in row]
    assert labels == ["👍 Utile", "👎 Non utile", "💬 Commenta"]
    assert all(len(data.encode()) <= 64 for row in message.buttons for _, data in row)


async def test_long_feed_text_is_shortened_with_a_read_more_link(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, GENOVA, language="en")
    long_html = "<p>" + "Parola lunga e paziente. " * 600 + "</p>"
    item = news("long", GENOVA)
    item.payload["html"] = long_html
    await enqueue(db, item)
    await send_all(make_sender())
    message = sandbox.user(1).last_bot_message
    assert len(message.text) <= 4096
    assert "read more" in message.text


async def test_blocked_user_is_marked_inactive_and_not_messaged_again(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, GENOVA)
    sandbox.user(1).block()
    await enqueue(db, news("n1", GENOVA), news("n2", GENOVA, title="Altro"))
    sender = make_sender(
        SenderConfig(messages_per_second=None, per_chat_interval_s=None, group_above=5)
    )
    await send_all(sender)
    states = sorted((d.state, d.error) for d in await deliveries(db))
    assert states[0] == (DeliveryState.FAILED, "blocked")
    assert states[1] in [(DeliveryState.SKIPPED, "blocked"), (DeliveryState.FAILED, "blocked")]
    async with db.transaction() as session:
        assert (await subscriptions.get_subscriber(session, 1)).active is False
    await enqueue(db, news("n3", GENOVA))
    calls_before = sandbox.count("sendMessage")
    await send_all(make_sender())
    assert sandbox.count("sendMessage") == calls_before


async def test_429_waits_at_least_retry_after_and_sends_once(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, GENOVA)
    await subscriber(db, sandbox, 2, GENOVA)
    sandbox.fail_next("sendMessage", error_code=429, retry_after=1)
    await enqueue(db, news("n1", GENOVA))
    started = asyncio.get_running_loop().time()
    await send_all(make_sender())
    elapsed = asyncio.get_running_loop().time() - started
    assert elapsed >= 1.0
    assert [d.state for d in await deliveries(db)] == [DeliveryState.SENT] * 2
    assert len(sandbox.user(1).bot_messages) == 1 and len(sandbox.user(2).bot_messages) == 1
    assert sandbox.count("sendMessage", ok=False) == 1


@pytest.mark.parametrize("fault", [{"error_code": 500}, {"error_code": 502}])
async def test_server_errors_are_retried(db, sandbox, make_sender, fault):
    await subscriber(db, sandbox, 1, GENOVA)
    sandbox.fail_next("sendMessage", count=2, **fault)
    await enqueue(db, news("n1", GENOVA))
    await send_all(make_sender())
    (delivery,) = await deliveries(db)
    assert delivery.state == DeliveryState.SENT and delivery.attempts == 3
    assert len(sandbox.user(1).bot_messages) == 1


async def test_retries_stop_at_the_cap(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, GENOVA)
    sandbox.fail_next("sendMessage", count=10, error_code=500)
    await enqueue(db, news("n1", GENOVA))
    config = SenderConfig(
        messages_per_second=None, per_chat_interval_s=None, retry_base_s=0.01, max_attempts=3
    )
    await send_all(make_sender(config))
    (delivery,) = await deliveries(db)
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == 3
    assert "gave up after 3 attempts" in delivery.error


async def test_chat_migrated_is_followed_to_the_new_id(db, sandbox, make_sender):
    sandbox.group(-500, "Comune di Recco")
    sandbox.migrate_chat(-500, -1000500)
    async with db.transaction() as session:
        group = Subscriber(telegram_user_id=-500, chat_id=-500, language="it", active=True)
        session.add(group)
        await session.flush()
        await subscriptions.subscribe(session, group, Target(*GENOVA))
    await enqueue(db, news("n1", GENOVA))
    await send_all(make_sender())
    (delivery,) = await deliveries(db)
    assert (delivery.state, delivery.chat_id) == (DeliveryState.SENT, -1000500)
    chat = sandbox.world.find_chat(-1000500)
    assert len(sandbox.world.bot_records(chat)) == 1


async def test_many_items_at_once_become_one_grouped_message(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, GENOVA, language="en")
    await enqueue(db, *(news(f"n{i}", GENOVA, title=f"Notizia {i}") for i in range(5)))
    await send_all(make_sender())
    (message,) = sandbox.user(1).bot_messages
    assert message.text.startswith("📬 5 new updates")
    assert "Notizia 4" in message.text
    assert {d.message_id for d in await deliveries(db)} == {message.message_id}


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


async def test_quiet_hours_defer_to_the_end_of_the_window(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, GENOVA, quiet_start=22, quiet_end=7)
    clock = Clock(datetime(2026, 11, 25, 22, 30, tzinfo=UTC))  # 23:30 in Rome
    async with db.transaction() as session:
        await outbox.enqueue(session, news("n1", GENOVA, not_before=clock.now))
    sender = make_sender(clock=clock)
    await send_all(sender)
    (delivery,) = await deliveries(db)
    assert delivery.state == DeliveryState.PENDING
    assert delivery.due_at == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # 07:00 in Rome
    assert sandbox.user(1).bot_messages == []
    clock.now = datetime(2026, 11, 26, 6, 0, 1, tzinfo=UTC)
    await send_all(sender)
    assert len(sandbox.user(1).bot_messages) == 1


async def test_daily_digest_collects_items_into_one_message_at_the_chosen_hour(
    db, sandbox, make_sender
):
    await subscriber(db, sandbox, 1, GENOVA, delivery_mode="daily", digest_hour=8)
    clock = Clock(datetime(2026, 3, 28, 9, 0, tzinfo=UTC))  # Saturday 10:00 in Rome (CET)
    async with db.transaction() as session:
        for i in range(2):
            await outbox.enqueue(
                session, news(f"n{i}", GENOVA, title=f"Notizia {i}", not_before=clock.now)
            )
    sender = make_sender(clock=clock)
    await send_all(sender)
    held = await deliveries(db)
    assert {d.state for d in held} == {DeliveryState.HELD}
    # Sunday 29 March is the switch to summer time: 08:00 in Rome is 06:00 UTC.
    assert {d.due_at for d in held} == {datetime(2026, 3, 29, 6, 0, tzinfo=UTC)}
    clock.now = datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    await send_all(sender)
    (message,) = sandbox.user(1).bot_messages
    assert message.text.startswith("📬 Il tuo riepilogo: 2 aggiornamenti")


async def test_feedback_buttons_record_only_the_owners_reaction(
    db, sandbox, make_sender, running_bot
):
    await subscriber(db, sandbox, 1, GENOVA)
    await subscriber(db, sandbox, 2, GENOVA)
    await enqueue(db, news("n1", GENOVA))
    await send_all(make_sender())
    anna, ben = sandbox.user(1), sandbox.user(2)
    await anna.press("👍 Utile")
    assert anna.callback_answers[-1].text.startswith("Grazie per il tuo parere! Riferimento P-")
    (annas,) = await deliveries(db, chat_id=1)
    assert annas.reaction == "u" and annas.reacted_at is not None
    # Ben forges Anna's delivery id into his own button press: refused, nothing recorded.
    await ben.press_data(f"fb:{annas.id}:n", message_id=ben.last_bot_message.message_id)
    assert ben.callback_answers[-1].text == "Questo pulsante non è più valido."
    (annas,), (bens,) = await deliveries(db, chat_id=1), await deliveries(db, chat_id=2)
    assert annas.reaction == "u" and bens.reaction is None


async def test_stats_count_deliveries_by_state(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, GENOVA)
    await subscriber(db, sandbox, 2, GENOVA)
    sandbox.user(2).block()
    (notification_id,) = await enqueue(db, news("n1", GENOVA))
    await send_all(make_sender())
    async with db.transaction() as session:
        counts = await outbox.stats(session, notification_id)
    assert counts["sent"] == 1 and counts["failed"] == 1 and counts["blocked"] == 1
    assert counts["pending"] == 0


async def test_after_a_crash_claimed_rows_are_sent_and_rows_mid_request_are_in_doubt(
    db, sandbox, make_sender
):
    await subscriber(db, sandbox, 1, GENOVA)
    await subscriber(db, sandbox, 2, GENOVA)
    await enqueue(db, news("n1", GENOVA))
    now = datetime.now(UTC) + timedelta(seconds=1)
    async with db.transaction() as session:
        await outbox.target_due(session, now)
        claim = await outbox.claim_due(session, now, worker="crashed-worker")
        in_flight = next(c for c in claim.claimed if c.chat_id == 1)
        await outbox.mark_sending(session, [in_flight.delivery_id])
    # The crashed sender had claimed both, and its request to chat 1 was in flight.
    sender = make_sender()
    assert await sender.recover() == 1
    await send_all(sender)
    (first,), (second,) = await deliveries(db, chat_id=1), await deliveries(db, chat_id=2)
    assert first.state == DeliveryState.IN_DOUBT and sandbox.user(1).bot_messages == []
    assert second.state == DeliveryState.SENT and len(sandbox.user(2).bot_messages) == 1
    async with db.transaction() as session:
        assert (await outbox.stats(session))["in_doubt"] == 1


async def test_paced_sending_stays_under_telegram_flood_limits(db, sandbox, make_sender):
    sandbox.set_flood_limits(global_per_second=30, per_chat_per_second=1)
    for user_id in range(100, 160):
        await subscriber(db, sandbox, user_id, GENOVA)
    await enqueue(db, news("n1", GENOVA), news("n2", GENOVA, title="Secondo avviso"))
    # The stand-in shares this test's event loop, so a busy loop (a loaded CI machine) bunches
    # arrivals it counts; one message/s of headroom absorbs that. The exact-limit figure, with
    # the stand-in in its own process, is benchmarks/delivery.py's (0 × 429 at 30/s).
    config = SenderConfig(messages_per_second=29, per_chat_interval_s=1.0, group_above=3)
    started = asyncio.get_running_loop().time()
    await send_all(make_sender(config))
    elapsed = asyncio.get_running_loop().time() - started
    # A loaded machine bunches arrivals in the stand-in (it shares this loop) and may draw a
    # 429 from its flood limit: the sender obeys it and nothing is lost or sent twice. The
    # 0 × 429 figure at the limit is measured by benchmarks/delivery.py, not asserted here.
    assert sandbox.count("sendMessage", ok=True) == 120
    assert {len(sandbox.user(u).bot_messages) for u in range(100, 160)} == {2}
    assert elapsed >= (120 - 29) / 29  # at most 29 a second on average


async def test_a_long_staff_text_is_split_not_cut_with_buttons_under_the_last_part(
    db, sandbox, make_sender
):
    await subscriber(db, sandbox, 1, GENOVA)
    paragraphs = [f"<b>Punto {n}.</b> " + "Il Piano cresce con i comuni. " * 40 for n in range(8)]
    long_text = NewNotification(
        kind=NotificationKind.BROADCAST,
        source_key="long-staff",
        template="text",
        payload={"html": "\n\n".join(paragraphs)},
        tags=[GENOVA],
    )
    await enqueue(db, long_text)
    await send_all(make_sender())
    messages = sandbox.user(1).bot_messages
    assert len(messages) >= 3
    assert all(len(m.text) <= 4096 for m in messages)
    joined = " ".join(" ".join(m.text for m in messages).split())
    for n in range(8):
        assert f"Punto {n}." in joined
    assert [bool(m.buttons) for m in messages] == [False] * (len(messages) - 1) + [True]
    (delivery,) = await deliveries(db)
    assert delivery.message_id == messages[-1].message_id


async def test_a_429_storm_delays_but_loses_and_repeats_nothing(db, sandbox, make_sender):
    for user_id in range(1, 11):
        await subscriber(db, sandbox, user_id, GENOVA)
    sandbox.fail_next("sendMessage", error_code=429, retry_after=1, count=3)
    await enqueue(db, news("storm", GENOVA))
    started = asyncio.get_running_loop().time()
    await send_all(make_sender(), wait_s=10)
    assert asyncio.get_running_loop().time() - started >= 1.0
    assert {d.state for d in await deliveries(db)} == {DeliveryState.SENT}
    assert [len(sandbox.user(u).bot_messages) for u in range(1, 11)] == [1] * 10
    assert sandbox.count("sendMessage", ok=False) == 3


async def test_news_with_an_image_goes_as_a_photo_with_a_caption(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, GENOVA)
    item = news("photo", GENOVA)
    item.payload["image_url"] = "https://www.cittametropolitana.genova.it/immagini/ciclabile.jpg"
    item.payload["html"] = "<p>" + "Testo lungo della notizia. " * 100 + "</p>"
    await enqueue(db, item)
    await send_all(make_sender())
    (message,) = sandbox.user(1).bot_messages
    assert message.kind == "photo"
    assert len(message.caption) <= 1024 and "continua a leggere" in message.caption
    assert next(label for row in message.buttons for label, _ in row) == "👍 Utile"
    (delivery,) = await deliveries(db)
    assert delivery.message_id == message.message_id


async def test_an_unusable_image_falls_back_to_text(db, sandbox, make_sender):
    await subscriber(db, sandbox, 1, GENOVA)
    item = news("bad-photo", GENOVA)
    item.payload["image_url"] = "https://example.org/not-an-image"
    await enqueue(db, item)
    sandbox.fail_next("sendPhoto", error_code=400, description="Bad Request: IMAGE_PROCESS_FAILED")
    await send_all(make_sender())
    (message,) = sandbox.user(1).bot_messages
    assert message.kind != "photo" and "Nuovo bando per il Tigullio" in message.text
    assert {d.state for d in await deliveries(db)} == {DeliveryState.SENT}


async def test_a_wake_during_an_idle_round_is_not_lost(db, sandbox, make_sender):
    """A notification committed after the round's claim query, with its wake() arriving
    before the round ends, goes out at once, not after the idle sleep."""
    await subscriber(db, sandbox, 1, GENOVA)
    sender = make_sender(SenderConfig(messages_per_second=None, idle_sleep_s=60.0))
    first_round = sender.run_once

    async def round_that_misses_a_notification() -> int:
        handled = await first_round()
        sender.run_once = first_round
        await enqueue(db, news("late", GENOVA))
        sender.wake()
        return handled

    sender.run_once = round_that_misses_a_notification
    stop = asyncio.Event()
    async with sender.bot:
        running = asyncio.create_task(sender.run_forever(stop))
        try:

            async def delivered():
                return sandbox.user(1).bot_messages

            assert await eventually(delivered, timeout=5)
        finally:
            stop.set()
            await running


async def test_a_broadcast_larger_than_a_batch_goes_out_in_one_round(db, sandbox, make_sender):
    """The next batch is claimed while the last requests of this one are out: a long
    broadcast does not stop at every batch for its slowest answers and a claim."""
    for user_id in range(1, 36):
        await subscriber(db, sandbox, user_id, TIGULLIO)
    await enqueue(db, news("one-round", TIGULLIO))
    sender = make_sender(replace(FAST, batch_size=10))
    async with sender.bot:
        handled = await sender.run_once()
    assert handled == 35
    assert {len(sandbox.user(u).bot_messages) for u in range(1, 36)} == {1}
    assert {d.state for d in await deliveries(db)} == {DeliveryState.SENT.value}
