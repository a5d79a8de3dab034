"""Each item of a grouped message or digest can be rated and commented on, in place."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from bot import callbacks
from bot.app import build_sender
from bot.db.models import Delivery
from bot.services import broadcasts, outbox
from bot.services.broadcasts import Audience
from tests.record_helpers import FAST, GENOVA, consenting, entries, follower, news

pytestmark = pytest.mark.usefixtures("running_bot")

BROADCAST = "<b>Incontro pubblico</b> a <i>Chiavari</i>\n\nAlle 18 in sala consiliare."


async def four_items_at_once(settings, db, sandbox) -> list[int]:
    """Three news and a formatted broadcast for Genova, sent as one grouped message."""
    ids = []
    items = [news(f"n{n}", GENOVA, title=f"Notizia {n}") for n in (1, 2)]
    items.append(broadcasts.new_broadcast("0123abcd", BROADCAST, Audience(targets={GENOVA})))
    items.append(news("n4", GENOVA, title="Notizia 4"))
    async with db.transaction() as session:
        for item in items:
            notification, _ = await outbox.enqueue(session, item)
            ids.append(notification.id)
    sender = build_sender(settings, db, base_url=sandbox.base_url, config=replace(FAST))
    async with sender.bot:
        await sender.run_until_idle(wait_s=2.0)
    return ids


async def test_a_grouped_message_numbers_its_items_and_each_can_be_rated(settings, db, sandbox):
    anna = await follower(db, sandbox, 1001, GENOVA)
    ids = await four_items_at_once(settings, db, sandbox)
    (grouped,) = anna.bot_messages
    assert grouped.text.startswith("📬 4 nuovi aggiornamenti")
    assert "3. Incontro pubblico a Chiavari" in grouped.text and "<b>" not in grouped.text
    assert grouped.labels == ["1", "2", "3", "4"]

    await anna.press("3", message_id=grouped.message_id)
    chosen = anna.last_bot_message
    assert chosen.edited and chosen.message_id == grouped.message_id
    assert chosen.text == grouped.text
    assert chosen.labels[:3] == ["3 · 👍 Utile", "3 · 👎 Non utile", "3 · 💬 Commenta"]
    assert "3. Incontro pubblico a Chiavari" in anna.callback_answers[-1].text

    await anna.press("3 · 👍 Utile", message_id=grouped.message_id)
    (entry,) = await entries(db)
    assert (entry.kind, entry.value, entry.notification_id) == ("reaction", "useful", ids[2])
    assert entry.subject_label == "Incontro pubblico a Chiavari"


async def test_an_item_of_a_grouped_message_can_be_commented_on(settings, db, sandbox):
    anna = await follower(db, sandbox, 1001, GENOVA)
    ids = await four_items_at_once(settings, db, sandbox)
    grouped = anna.bot_messages[-1]
    await consenting(anna)
    await anna.press("2", message_id=grouped.message_id)
    await anna.press("2 · 💬 Commenta", message_id=grouped.message_id)
    prompt = anna.last_bot_message
    assert "Notizia 2" in prompt.text
    await anna.reply("Serve anche a Sestri", to=prompt.message_id)
    (entry,) = await entries(db)
    assert (entry.kind, entry.text, entry.notification_id) == (
        "comment",
        "Serve anche a Sestri",
        ids[1],
    )


async def test_an_item_button_of_someone_elses_message_changes_nothing(settings, db, sandbox):
    await follower(db, sandbox, 1001, GENOVA)
    await four_items_at_once(settings, db, sandbox)
    async with db.transaction() as session:
        delivery_id = await session.scalar(select(Delivery.id).order_by(Delivery.id).limit(1))
    ben = sandbox.user(1002, first_name="Ben", language_code="it")
    await ben.send("/start")
    await ben.press_data(callbacks.feedback_item_data(delivery_id))
    assert ben.callback_answers[-1].text == "Questo pulsante non è più valido."
    assert await entries(db) == []


def test_item_buttons_carry_only_the_delivery():
    largest_id = 2**31 - 1  # deliveries.id is an Integer column: 32-bit on PostgreSQL
    data = callbacks.feedback_item_data(largest_id)
    assert len(data.encode()) <= callbacks.MAX_CALLBACK_BYTES
    assert callbacks.parse(data) == callbacks.FeedbackItem(largest_id)
    for forged in ("fbi:", "fbi:x", "fbi:1:2", f"fbi:{largest_id + 1}", "fbi:1234567890123456789"):
        with pytest.raises(callbacks.InvalidCallback):
            callbacks.parse(forged)
