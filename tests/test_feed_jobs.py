"""Feeds end to end: a served item → notification → sender → the follower's chat, and the
repeating job of the running bot, with its alert to the administrators."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from bot.app import build_sender
from bot.db.models import Feed, TargetKind
from bot.delivery.sender import SenderConfig
from bot.jobs import FEED_POLLING_JOB, schedule_feed_polling, tell_admins_about_paused_feeds
from bot.runtime import Deployment, polling
from bot.services import feed_registry, subscriptions
from bot.services.feed_poller import FeedPoller, FeedPollResult, PollStatus
from bot.services.feed_registry import FeedSpec
from bot.services.subscriptions import Target
from tests.conftest import compose_against, eventually
from tests.feed_server import FeedServer, item, without_proxies

FAST = SenderConfig(messages_per_second=None, per_chat_interval_s=None, idle_sleep_s=0.05)
# A sender that sleeps this long when idle delivers quickly only when woken.
SLEEPY = dataclasses.replace(FAST, idle_sleep_s=60.0)
ADMIN_IT, ADMIN_EN = 9001, 9002


@pytest.fixture
async def feed_server(monkeypatch):
    without_proxies(monkeypatch)
    async with FeedServer.running() as server:
        yield server


async def follower(db, sandbox, user_id, kind, target_id, language="it"):
    sandbox.user(user_id, first_name=f"U{user_id}", language_code=language)
    async with db.transaction() as session:
        row, _ = await subscriptions.get_or_create_subscriber(
            session,
            telegram_user_id=user_id,
            chat_id=user_id,
            first_name=f"U{user_id}",
            language=language,
        )
        if kind:
            await subscriptions.subscribe(session, row, Target(TargetKind(kind), target_id))


async def add_due_feed(db, url, **spec) -> int:
    """A feed whose poll is due now."""
    async with db.transaction() as session:
        feed = await feed_registry.add_feed(
            session, FeedSpec(url=url, **spec), now=datetime.now(UTC)
        )
        await session.execute(
            update(Feed).where(Feed.id == feed.id).values(next_poll_at=datetime.now(UTC))
        )
        return feed.id


def make_sender(settings, db, sandbox, config=FAST):
    return build_sender(
        settings, db, base_url=sandbox.base_url, base_file_url=sandbox.base_file_url, config=config
    )


async def test_a_feed_item_reaches_the_followers_of_its_zone(db, settings, sandbox, feed_server):
    await follower(db, sandbox, 301, "zone", "tigullio")
    await follower(db, sandbox, 302, "comune", "010059")  # Sestri Levante: another zone
    url = feed_server.serve("/news.xml", [item(1)], title="Notizie del PSM")
    feed_id = await add_due_feed(db, url)
    poller = FeedPoller(db)
    await poller.poll_feed(feed_id)  # the first poll only records what is there
    hostile = item(
        2,
        "<b>Rapallo</b>: nuovo parcheggio",
        description="<p>Lavori <b>al via</b>.<script>alert(1)</script></p>"
        '<a href="javascript:x()">x</a>',
    )
    feed_server.serve("/news.xml", [hostile, item(1)], title="Notizie del PSM")
    result = await poller.poll_feed(feed_id)
    assert len(result.notification_ids) == 1

    sender = make_sender(settings, db, sandbox)
    async with sender.bot:
        await sender.run_until_idle()

    [message] = sandbox.user(301).bot_messages
    assert message.text.startswith("📰 Rapallo: nuovo parcheggio")  # an HTML title, as text
    assert "Lavori al via." in message.text and "alert" not in message.text
    assert "Notizie del PSM" in message.text
    assert "<script" not in message.html and "javascript:" not in message.html
    assert sandbox.user(302).bot_messages == []


async def test_the_polling_job_polls_due_feeds_and_wakes_the_sender(
    db, settings, sandbox, feed_server
):
    await follower(db, sandbox, 401, "strategy", "S3")
    url = feed_server.serve("/mobilita.xml", [item(1, "Il PUMS metropolitano è approvato")])
    await add_due_feed(db, url, first_poll_backlog=1)
    application = compose_against(sandbox, settings, db, Deployment(sends=False)).application
    sender = make_sender(settings, db, sandbox, SLEEPY)
    job = schedule_feed_polling(application, sender=sender, every_s=0.2, first_s=0.1)
    assert job.name == FEED_POLLING_JOB

    async with polling(application, sender=sender, poll_timeout=1):

        async def delivered():
            return sandbox.user(401).bot_messages

        [message] = await eventually(delivered, timeout=10)
    assert "Il PUMS metropolitano è approvato" in message.text


async def test_admins_are_told_in_their_language_when_a_feed_is_paused(
    db, settings, sandbox, feed_server
):
    settings = dataclasses.replace(settings, admin_ids=frozenset({ADMIN_IT, ADMIN_EN}))
    sandbox.user(ADMIN_IT, first_name="Ufficio", language_code="it")
    await follower(db, sandbox, ADMIN_EN, None, None, language="en")
    url = feed_server.fail("/broken.xml", 500)
    feed_id = await add_due_feed(db, url, title="Comune <di> prova")
    async with db.transaction() as session:
        await session.execute(update(Feed).where(Feed.id == feed_id).values(consecutive_failures=9))
    application = compose_against(sandbox, settings, db, Deployment(sends=False)).application
    schedule_feed_polling(application, every_s=0.2, first_s=0.1)

    async with polling(application, poll_timeout=1):

        async def alerted():
            return sandbox.user(ADMIN_IT).bot_messages and sandbox.user(ADMIN_EN).bot_messages

        assert await eventually(alerted, timeout=10)
    [italian] = sandbox.user(ADMIN_IT).bot_messages
    assert italian.text.startswith(
        "⚠️ Feed sospeso dopo 10 letture fallite di fila: Comune <di> prova"
    )
    assert url in italian.text and "HTTP 500" in italian.text
    assert f"python -m bot feeds resume {feed_id}" in italian.text
    [english] = sandbox.user(ADMIN_EN).bot_messages
    assert english.text.startswith("⚠️ Feed paused after 10 failed polls in a row")
    async with db.transaction() as session:
        assert (await session.get(Feed, feed_id)).paused


async def test_an_admin_who_blocked_the_bot_does_not_stop_the_others(db, settings, sandbox):
    settings = dataclasses.replace(settings, admin_ids=frozenset({ADMIN_IT, ADMIN_EN}))
    sandbox.user(ADMIN_IT).block()
    sandbox.user(ADMIN_EN, language_code="it")
    paused = FeedPollResult(
        7,
        "https://example.org/feed",
        "",
        PollStatus.ERROR,
        error="HTTP 410 Gone",
        consecutive_failures=10,
        paused=True,
    )
    application = compose_against(sandbox, settings, db, Deployment(sends=False)).application
    async with application:
        await tell_admins_about_paused_feeds(application.bot, settings, db, [paused])
    assert sandbox.user(ADMIN_IT).bot_messages == []
    [message] = sandbox.user(ADMIN_EN).bot_messages
    assert "https://example.org/feed" in message.text and "HTTP 410 Gone" in message.text
