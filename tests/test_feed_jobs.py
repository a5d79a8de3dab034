"""Feeds end to end: a served item → notification → sender → the follower's chat, and the
repeating job of the running bot, with its alert to the administrators."""

from __future__ import annotations

import base64
import dataclasses
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from bot.app import build_sender
from bot.db.models import Feed, TargetKind
from bot.delivery.sender import SenderConfig
from bot.jobs.feeds import FEED_POLLING_JOB, schedule_feed_polling, tell_admins_about_paused_feeds
from bot.runtime import Deployment, polling
from bot.services import feed_registry, subscriptions
from bot.services.feed_poller import FeedPoller, FeedPollResult, PollStatus
from bot.services.feed_registry import FeedSpec
from bot.services.subscriptions import Target
from tests.conftest import compose_against, eventually
from tests.feed_server import SITE, FeedServer, item, rss, without_proxies

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
        "⚠️ Fonte sospesa dopo 10 letture non riuscite di seguito: Comune <di> prova"
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


async def news_reaching(db, settings, sandbox, feed_server, user_id, body: bytes, **serve):
    """Serve a first document, poll it (recorded silently), serve `body`, poll again and
    deliver: the messages the follower `user_id` of the strategy S3 received."""
    await follower(db, sandbox, user_id, "strategy", "S3")
    url = feed_server.serve("/news.xml", [item(1)], **serve)
    feed_id = await add_due_feed(db, url, strategies=("S3",))
    poller = FeedPoller(db)
    await poller.poll_feed(feed_id)
    feed_server.serve("/news.xml", body=body, **serve)
    await poller.poll_feed(feed_id)
    sender = make_sender(settings, db, sandbox)
    async with sender.bot:
        await sender.run_until_idle()
    sandbox.assert_no_rejections()
    messages = sandbox.user(user_id).bot_messages
    for message in messages:
        print(message.html)  # as the follower reads it: pytest -s shows it
    return messages


async def test_a_news_item_keeps_its_paragraphs_in_the_follower_s_chat(
    db, settings, sandbox, feed_server
):
    article = item(
        2,
        "Consiglio metropolitano",
        description="<p>article title</p><p>article byline</p><p>text<br>second line</p>"
        "<ul><li>uno</li><li>due<ul><li>due bis</li></ul></li></ul>",
    )
    [message] = await news_reaching(
        db, settings, sandbox, feed_server, 311, rss([article, item(1)])
    )
    assert message.text.startswith(
        "📰 Consiglio metropolitano\n\narticle title\n\narticle byline\n\ntext\nsecond line\n\n"
        "• uno\n• due\n  • due bis\n\n"
    )


async def test_an_item_without_a_title_is_headed_by_the_start_of_its_text(
    db, settings, sandbox, feed_server
):
    untitled = item(
        2,
        "",
        description="<p>Da lunedì 3 marzo via Roma a Rapallo è chiusa al traffico per il "
        "rifacimento della rete idrica; le linee 17 e 18 sono deviate.</p><p>Seconda parte.</p>",
    )
    [message] = await news_reaching(
        db, settings, sandbox, feed_server, 312, rss([untitled, item(1)], title="Comune di Rapallo")
    )
    assert "<b></b>" not in message.html
    header = message.text.split("\n\n")[0]
    assert header.startswith("📰 Da lunedì 3 marzo via Roma a Rapallo")
    assert header.endswith("…")
    assert "Seconda parte." in message.text


async def test_an_item_with_neither_title_nor_text_is_headed_by_the_feed_s_title(
    db, settings, sandbox, feed_server
):
    bare = item(2, "", description="")
    document = rss([bare, item(1)], title="Comune di Rapallo")
    [message] = await news_reaching(
        db, settings, sandbox, feed_server, 313, document, title="Comune di Rapallo"
    )
    assert message.text.startswith("📰 Comune di Rapallo\n\n")
    assert "<b></b>" not in message.html


async def test_control_characters_of_a_feed_never_reach_telegram(
    db, settings, sandbox, feed_server
):
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T&#26;</title>'
        f"<item><title>Bando&#26; aperto&#127;&#133;</title><guid>{SITE}/2</guid>"
        "<description>&lt;p&gt;Testo&#26; del &#8;bando&lt;/p&gt;"
        "&lt;pre&gt;riga 1&#13;&#10;riga&#11;2&lt;/pre&gt;</description></item>"
        "</channel></rss>"
    ).encode()
    [message] = await news_reaching(db, settings, sandbox, feed_server, 314, body)
    control = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
    assert not control.search(message.html), repr(message.html)
    assert message.text.startswith("📰 Bando aperto\n\nTesto del bando\n\nriga 1\nriga2")


async def test_a_base64_title_and_content_are_shown_as_text(db, settings, sandbox, feed_server):
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    body = (
        '<?xml version="1.0" encoding="utf-8"?><feed version="0.3" xmlns="http://purl.org/atom/ns#">'
        "<title>Notizie</title><entry><id>tag:psm.genova.it,2026:2</id>"
        f'<title mode="base64">{b64("<p>Il &lt;PUMS&gt; è <b>approvato</b></p>")}</title>'
        f'<content mode="base64">{b64("<p>Primo paragrafo.</p><p>Secondo.</p>")}</content>'
        "<issued>2026-03-01T12:00:00Z</issued><modified>2026-03-01T12:00:00Z</modified></entry>"
        "</feed>"
    ).encode()
    [message] = await news_reaching(
        db, settings, sandbox, feed_server, 315, body, content_type="application/atom+xml"
    )
    assert message.text.startswith("📰 Il <PUMS> è approvato\n\nPrimo paragrafo.\n\nSecondo.")
