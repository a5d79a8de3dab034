"""Polling feeds into the outbox: new items become one notification each, exactly once."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest
from sqlalchemy import func, select

from bot.db.engine import Database
from bot.db.models import Feed, Notification, SeenFeedItem
from bot.services import feed_registry
from bot.services.feed_poller import (
    MAX_SOURCE_KEY_LENGTH,
    FeedPoller,
    PollerConfig,
    PollStatus,
    source_key,
)
from bot.services.feed_registry import FeedSpec
from feeds.fetch import FeedFetcher
from tests.feed_server import Clock, FeedServer, item, self_signed_tls, without_proxies


@pytest.fixture
async def feed_server(monkeypatch):
    without_proxies(monkeypatch)
    async with FeedServer.running() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_poller(db, clock):
    fetchers = []

    def make(database: Database = db, **config) -> FeedPoller:
        fetcher = FeedFetcher(timeout=1.0)
        fetchers.append(fetcher)
        return FeedPoller(database, fetcher=fetcher, config=PollerConfig(**config), clock=clock)

    yield make
    for fetcher in fetchers:
        await fetcher.aclose()


async def add(db, clock, url, **spec) -> int:
    async with db.transaction() as session:
        feed = await feed_registry.add_feed(session, FeedSpec(url=url, **spec), now=clock())
        return feed.id


async def load_feed(db, feed_id) -> Feed:
    async with db.transaction() as session:
        return await session.get(Feed, feed_id)


async def notifications(db) -> list[Notification]:
    async with db.transaction() as session:
        return list(await session.scalars(select(Notification).order_by(Notification.id)))


async def seen_count(db, feed_id) -> int:
    async with db.transaction() as session:
        query = select(func.count()).where(SeenFeedItem.feed_id == feed_id)
        return await session.scalar(query.select_from(SeenFeedItem))


def tags_of(notification: Notification) -> set[tuple[str, str]]:
    return {(tag.target_kind, tag.target_id) for tag in notification.tags}


async def test_a_new_item_becomes_one_notification_tagged_by_feed_and_title(
    db, clock, feed_server, make_poller
):
    url = feed_server.serve("/news.xml", [item(1), item(2)], title="Notizie del PSM")
    feed_id = await add(db, clock, url, strategies=("S2",))
    poller = make_poller()
    first = await poller.poll_feed(feed_id)
    assert (first.status, first.notification_ids, first.recorded_silently) == (PollStatus.OK, [], 2)

    newest = item(
        3, "Nuovo parcheggio di interscambio a Rapallo", image_url=f"{feed_server.base_url}/p.jpg"
    )
    feed_server.serve("/news.xml", [newest, item(2), item(1)], title="Notizie del PSM")
    result = await poller.poll_feed(feed_id)

    [notification] = await notifications(db)
    assert result.notification_ids == [notification.id]
    assert notification.kind == "news" and notification.template == "news"
    assert notification.source_key == source_key(feed_id, f"guid:{newest.guid}")
    assert tags_of(notification) == {
        ("strategy", "S2"),  # the feed's default
        ("zone", "tigullio"),  # Rapallo, named in the title
        ("comune", "010046"),
    }
    payload = notification.payload
    assert payload["title"] == "Nuovo parcheggio di interscambio a Rapallo"
    assert payload["link"] == newest.link
    assert payload["source"] == "Notizie del PSM"
    assert payload["html"] == "Il percorso del piano continua."
    assert payload["published"] == "2026-03-01T12:00:00+00:00"
    assert payload["image_url"] == f"{feed_server.base_url}/p.jpg"
    assert await seen_count(db, feed_id) == 3


async def test_polling_again_or_after_a_restart_notifies_nothing_more(
    db, database_url, clock, feed_server, make_poller
):
    url = feed_server.serve("/news.xml", [item(1)])
    feed_id = await add(db, clock, url)
    await make_poller().poll_feed(feed_id)
    feed_server.serve("/news.xml", [item(2), item(1)])
    assert len((await make_poller().poll_feed(feed_id)).notification_ids) == 1

    again = await make_poller().poll_feed(feed_id)
    restarted_db = Database(database_url)  # a new process: nothing remembered in memory
    try:
        after_restart = await make_poller(restarted_db).poll_feed(feed_id)
    finally:
        await restarted_db.dispose()
    assert again.notification_ids == after_restart.notification_ids == []
    assert len(await notifications(db)) == 1


async def test_a_reordered_feed_notifies_nothing(db, clock, feed_server, make_poller):
    items = [item(n) for n in range(1, 6)]
    url = feed_server.serve("/news.xml", items)
    feed_id = await add(db, clock, url)
    poller = make_poller()
    await poller.poll_feed(feed_id)
    feed_server.serve("/news.xml", [items[2], items[0], items[4], items[1], items[3]])
    assert (await poller.poll_feed(feed_id)).notification_ids == []
    feed_server.serve("/news.xml", items[3:])  # older items dropped from the feed
    assert (await poller.poll_feed(feed_id)).notification_ids == []
    assert await notifications(db) == []


async def test_a_permanent_redirect_updates_the_url_and_notifies_nothing_again(
    db, clock, feed_server, make_poller
):
    items = [item(1), item(2)]
    old_url = feed_server.serve("/old.xml", items)
    feed_id = await add(db, clock, old_url)
    poller = make_poller()
    await poller.poll_feed(feed_id)

    new_url = feed_server.serve("/new.xml", items)
    feed_server.redirect("/old.xml", "/new.xml", status=301)
    moved = await poller.poll_feed(feed_id)
    assert (moved.status, moved.moved_to, moved.notification_ids) == (PollStatus.OK, new_url, [])
    assert (await load_feed(db, feed_id)).url == new_url

    feed_server.requests.clear()
    await poller.poll_feed(feed_id)
    assert [path for path, _ in feed_server.requests] == ["/new.xml"]
    assert await notifications(db) == []


async def test_a_temporary_redirect_keeps_the_url(db, clock, feed_server, make_poller):
    feed_server.serve("/today.xml", [item(1)])
    feed_server.redirect("/feed.xml", "/today.xml", status=302)
    feed_id = await add(db, clock, feed_server.url("/feed.xml"))
    result = await make_poller().poll_feed(feed_id)
    assert (result.status, result.moved_to) == (PollStatus.OK, None)
    assert (await load_feed(db, feed_id)).url == feed_server.url("/feed.xml")


async def test_the_first_poll_of_a_new_feed_does_not_flood(db, clock, feed_server, make_poller):
    url = feed_server.serve("/news.xml", [item(n) for n in range(1, 31)])
    feed_id = await add(db, clock, url)
    result = await make_poller().poll_feed(feed_id)
    assert (result.notification_ids, result.recorded_silently) == ([], 30)
    assert await seen_count(db, feed_id) == 30
    assert (await load_feed(db, feed_id)).first_polled_at == clock.now


async def test_a_backlog_of_n_notifies_the_newest_n_oldest_first(
    db, clock, feed_server, make_poller
):
    url = feed_server.serve("/news.xml", [item(n) for n in (5, 3, 1, 4, 2)])
    feed_id = await add(db, clock, url, first_poll_backlog=2)
    result = await make_poller().poll_feed(feed_id)
    assert result.recorded_silently == 3
    assert [n.payload["title"] for n in await notifications(db)] == ["Notizia 4", "Notizia 5"]


async def test_not_modified_parses_nothing(db, clock, feed_server, make_poller):
    url = feed_server.serve("/news.xml", [item(1)], etag='"v1"')
    feed_id = await add(db, clock, url)
    poller = make_poller()
    await poller.poll_feed(feed_id)
    assert (await load_feed(db, feed_id)).etag == '"v1"'
    # Same ETag, different body: only a parser would see the new item.
    feed_server.serve("/news.xml", [item(2), item(1)], etag='"v1"')
    result = await poller.poll_feed(feed_id)
    assert result.status is PollStatus.NOT_MODIFIED
    assert feed_server.requests_to("/news.xml")[-1]["If-None-Match"] == '"v1"'
    assert result.notification_ids == [] and await seen_count(db, feed_id) == 1
    feed = await load_feed(db, feed_id)
    assert (feed.last_status, feed.consecutive_failures) == ("not_modified", 0)


@pytest.mark.parametrize(
    ("route", "expected_error"),
    [("404", "HTTP 404"), ("500", "HTTP 500"), ("slow", "no complete answer within 1 s")],
)
async def test_errors_and_timeouts_are_recorded_with_back_off(
    db, clock, feed_server, make_poller, route, expected_error
):
    if route == "slow":
        url = feed_server.serve("/feed", [item(1)], delay_s=3)
    else:
        url = feed_server.fail("/feed", int(route))
    feed_id = await add(db, clock, url, interval_s=600)
    result = await make_poller().poll_feed(feed_id)
    assert result.status is PollStatus.ERROR and expected_error in result.error
    feed = await load_feed(db, feed_id)
    assert feed.last_status == "error" and expected_error in feed.last_error
    assert feed.consecutive_failures == 1 and not feed.paused
    waited = (feed.next_poll_at - clock.now).total_seconds()
    assert 1200 <= waited < 1200 + 60  # twice the interval, plus the feed's own offset


async def test_a_document_that_is_not_a_feed_is_a_failure(db, clock, feed_server, make_poller):
    url = feed_server.serve(
        "/page", body=b"<html><body>Home</body></html>", content_type="text/html"
    )
    feed_id = await add(db, clock, url)
    result = await make_poller().poll_feed(feed_id)
    assert result.status is PollStatus.ERROR and "not a usable feed" in result.error


async def test_back_off_grows_then_the_feed_is_paused_and_no_longer_polled(
    db, clock, feed_server, make_poller
):
    url = feed_server.fail("/feed", 503)
    feed_id = await add(db, clock, url, interval_s=300)
    poller = make_poller(pause_after=3)
    waits = []
    for _ in range(3):
        clock.advance(24 * 3600)
        report = await poller.poll_due_feeds()
        feed = await load_feed(db, feed_id)
        waits.append(round((feed.next_poll_at - clock.now).total_seconds() // 300) * 300)
    assert waits[:2] == [600, 1200]
    [paused] = report.paused
    assert (paused.feed_id, paused.consecutive_failures) == (feed_id, 3)
    assert feed.paused and "3 failed polls in a row" in feed.pause_reason
    assert "HTTP 503" in feed.pause_reason

    clock.advance(24 * 3600)
    feed_server.requests.clear()
    assert (await poller.poll_due_feeds()).results == []
    assert await poller.poll_feed(feed_id) is None
    assert feed_server.requests == []


async def test_a_success_clears_the_failures(db, clock, feed_server, make_poller):
    url = feed_server.fail("/feed", 500)
    feed_id = await add(db, clock, url)
    poller = make_poller()
    await poller.poll_feed(feed_id)
    await poller.poll_feed(feed_id)
    feed_server.serve("/feed", [item(1)])
    result = await poller.poll_feed(feed_id)
    feed = await load_feed(db, feed_id)
    assert result.status is PollStatus.OK
    assert (feed.consecutive_failures, feed.last_error, feed.last_status) == (0, None, "ok")


async def test_only_due_active_feeds_are_polled(db, clock, feed_server, make_poller):
    due = await add(db, clock, feed_server.serve("/due", [item(1)]))
    later = await add(db, clock, feed_server.serve("/later", [item(1)]))
    paused = await add(db, clock, feed_server.serve("/paused", [item(1)]))
    async with db.transaction() as session:
        (await session.get(Feed, later)).next_poll_at = clock.now.replace(year=clock.now.year + 1)
        await feed_registry.pause_feed(session, paused, now=clock.now)
    clock.advance(120)
    report = await make_poller().poll_due_feeds()
    assert [result.feed_id for result in report.results] == [due]
    assert [path for path, _ in feed_server.requests] == ["/due"]


async def test_feeds_in_progress_at_once_are_capped(db, clock, feed_server, make_poller):
    for n in range(6):
        await add(db, clock, feed_server.serve(f"/slow/{n}", [item(1)], delay_s=0.2))
    clock.advance(120)
    report = await make_poller(max_in_progress=2).poll_due_feeds()
    assert [result.status for result in report.results] == [PollStatus.OK] * 6
    assert feed_server.max_in_flight == 2


HOSTILE_BODY = (
    '<p onclick="steal()">Bando <b>aperto</b><script>alert("x")</script>'
    '<iframe src="https://evil.example/"></iframe>'
    '<a href="javascript:alert(1)">clicca</a> <a href="/bando">dettagli</a>'
    '<img src="x" onerror="alert(2)"><style>p{}</style></p>'
)


async def test_hostile_content_never_reaches_the_payload_unsanitized(
    db, clock, feed_server, make_poller
):
    url = feed_server.serve("/news.xml", [item(1)])
    feed_id = await add(db, clock, url)
    poller = make_poller()
    await poller.poll_feed(feed_id)
    hostile = item(
        2, "<script>alert(3)</script> Bando", description=HOSTILE_BODY, link="javascript:alert(4)"
    )
    feed_server.serve("/news.xml", [hostile, item(1)])
    await poller.poll_feed(feed_id)

    [notification] = await notifications(db)
    html = notification.payload["html"]
    for forbidden in ("<script", "<iframe", "<style", "javascript:", "onclick", "onerror", "alert"):
        assert forbidden not in html, forbidden
    assert f'href="{feed_server.url("/bando")}"' in html  # a relative link, resolved
    assert "<b>aperto</b>" in html
    assert "link" not in notification.payload  # a javascript: link is no link
    # The title is plain text: the renderer escapes it (see test_feed_jobs for the message).
    assert notification.payload["title"] == "<script>alert(3)</script> Bando"


async def test_a_removed_feed_forgets_its_items_but_keeps_its_notifications(
    db, clock, feed_server, make_poller
):
    url = feed_server.serve("/news.xml", [item(1)])
    feed_id = await add(db, clock, url, first_poll_backlog=1)
    await make_poller().poll_feed(feed_id)
    async with db.transaction() as session:
        await feed_registry.remove_feed(session, feed_id)
    assert await seen_count(db, feed_id) == 0
    assert len(await notifications(db)) == 1


def test_source_keys_fit_the_outbox_column():
    assert source_key(7, "guid:abc") == "feed:7:guid:abc"
    long_key = source_key(7, "guid:" + "x" * 250)
    assert len(long_key) <= MAX_SOURCE_KEY_LENGTH and long_key.startswith("feed:7:sha256:")
    assert long_key == source_key(7, "guid:" + "x" * 250)
    assert long_key != source_key(8, "guid:" + "x" * 250)


async def test_two_workers_polling_the_same_feed_at_once_notify_each_item_once(
    db, database_url, clock, feed_server, make_poller
):
    url = feed_server.serve("/news.xml", [item(1)], title="Notizie del PSM")
    feed_id = await add(db, clock, url)
    await make_poller().poll_feed(feed_id)  # first poll: the backlog, silently
    feed_server.serve("/news.xml", [item(3), item(2), item(1)], title="Notizie del PSM")
    other_worker = Database(database_url)  # a second process: its own engine and connections
    try:
        results = await asyncio.gather(
            make_poller().poll_feed(feed_id),
            make_poller(other_worker).poll_feed(feed_id),
            return_exceptions=True,
        )
    finally:
        await other_worker.dispose()
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(n.source_key for n in await notifications(db)) == sorted(
        {n.source_key for n in await notifications(db)}
    )
    assert len(await notifications(db)) == 2
    assert await seen_count(db, feed_id) == 3


def relative_atom(numbers, *, title: str = "Notizia {n}") -> bytes:
    """An Atom feed whose ids and links are relative (feedparser resolves them against the
    address the document came from)."""
    entries = "".join(
        f"<entry><id>/notizie/{n}</id><title>{title.format(n=n)}</title>"
        f'<link href="/notizie/{n}"/><updated>2026-03-01T{n:02d}:00:00Z</updated>'
        "<summary>Il percorso del piano continua.</summary></entry>"
        for n in numbers
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Notizie</title>{entries}</feed>"
    ).encode()


def relative_rss(numbers) -> bytes:
    """An RSS feed with a relative permalink guid on even items, only a relative link on odd."""
    items = "".join(
        f"<item><title>Notizia {n}</title>"
        + (f"<guid>/notizie/{n}</guid>" if n % 2 == 0 else f"<link>/notizie/{n}</link>")
        + f"<pubDate>Sun, 01 Mar 2026 {n:02d}:00:00 GMT</pubDate></item>"
        for n in numbers
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Notizie</title>'
        f"{items}</channel></rss>"
    ).encode()


async def moved_feed_notifies_only_what_is_new(db, clock, poller, old, new, document) -> None:
    """A feed at `old` is read, then moves permanently to `new` (another FeedServer): its
    items are not notified again, and a new item is notified once, with its link on `new`."""
    old_url = old.serve("/rss.xml", body=document([1, 2]))
    feed_id = await add(db, clock, old_url)
    await poller.poll_feed(feed_id)
    new_url = new.serve("/feeds/notizie.xml", body=document([1, 2]))
    old.redirect("/rss.xml", new_url, status=301)
    moved = await poller.poll_feed(feed_id)
    assert (moved.status, moved.moved_to, moved.notification_ids) == (PollStatus.OK, new_url, [])

    new.serve("/feeds/notizie.xml", body=document([1, 2, 3]))
    result = await poller.poll_feed(feed_id)
    [notification] = await notifications(db)
    assert result.notification_ids == [notification.id]
    assert notification.payload["title"] == "Notizia 3"
    assert notification.payload["link"] == new.url("/notizie/3")


@pytest.mark.parametrize("document", [relative_atom, relative_rss])
async def test_a_feed_moved_to_another_host_notifies_nothing_again(
    db, clock, feed_server, make_poller, document
):
    async with FeedServer.running(host="127.0.0.2") as elsewhere:
        await moved_feed_notifies_only_what_is_new(
            db, clock, make_poller(), feed_server, elsewhere, document
        )


@pytest.fixture
async def tls_poller(db, clock, tmp_path):
    """A poller whose fetcher trusts the test certificate (and only it)."""
    tls = self_signed_tls(tmp_path)
    async with httpx.AsyncClient(verify=tls.client, timeout=5.0) as client:
        yield tls, FeedPoller(db, fetcher=FeedFetcher(client), clock=clock)


@pytest.mark.parametrize("document", [relative_atom, relative_rss])
async def test_a_feed_moved_from_http_to_https_notifies_nothing_again(
    db, clock, feed_server, tls_poller, document
):
    tls, poller = tls_poller
    async with FeedServer.running(tls=tls.server) as secure:
        assert secure.base_url.startswith("https://127.0.0.1:")
        await moved_feed_notifies_only_what_is_new(db, clock, poller, feed_server, secure, document)


async def test_items_recorded_by_earlier_versions_are_not_notified_again(
    db, clock, feed_server, make_poller
):
    """Earlier versions stored identities resolved against the feed's URL: they still count
    as seen, even when the feed moves at the first poll after the upgrade, and afterwards."""
    old_url = feed_server.serve("/rss.xml", body=relative_atom([1, 2]))
    feed_id = await add(db, clock, old_url)
    async with db.transaction() as session:
        feed = await session.get(Feed, feed_id)
        feed.first_polled_at = clock()
        for n in (1, 2):
            identity = "guid:" + feed_server.url(f"/notizie/{n}")  # as stored then
            session.add(SeenFeedItem(feed_id=feed_id, identity=identity, first_seen_at=clock()))
    poller = make_poller()
    async with FeedServer.running(host="127.0.0.2") as elsewhere:
        new_url = elsewhere.serve("/feeds/notizie.xml", body=relative_atom([1, 2]))
        feed_server.redirect("/rss.xml", new_url, status=301)
        moved = await poller.poll_feed(feed_id)
        assert (moved.moved_to, moved.notification_ids) == (new_url, [])
        async with FeedServer.running(host="127.0.0.3") as third:
            elsewhere.redirect("/feeds/notizie.xml", third.url("/n.xml"), status=301)
            third.serve("/n.xml", body=relative_atom([1, 2, 3]))
            result = await poller.poll_feed(feed_id)
    [notification] = await notifications(db)
    assert result.notification_ids == [notification.id]
    assert notification.payload["title"] == "Notizia 3"


async def test_entries_sharing_a_guid_are_each_notified_once(db, clock, feed_server, make_poller):
    """A civic service sends what a feed publishes as separate entries, even when its CMS
    gives them one guid; the same entry twice is one item, and an entry edited in place
    (alone under its guid) is not sent again."""
    original = item(1, "Bando aperto")
    url = feed_server.serve("/news.xml", [original])
    feed_id = await add(db, clock, url)
    poller = make_poller()
    await poller.poll_feed(feed_id)

    update = dataclasses.replace(item(3, "Bando aperto: scadenza prorogata"), guid=original.guid)
    other = dataclasses.replace(item(2, "Incontro a Chiavari"), guid=original.guid)
    feed_server.serve("/news.xml", [update, other, original, original])
    result = await poller.poll_feed(feed_id)
    sent = await notifications(db)
    assert [n.payload["title"] for n in sent] == ["Incontro a Chiavari", update.title]
    assert result.notification_ids == [n.id for n in sent]

    assert (await poller.poll_feed(feed_id)).notification_ids == []
    feed_server.serve("/news.xml", [update, other])  # the original left the feed
    assert (await poller.poll_feed(feed_id)).notification_ids == []
    edited = dataclasses.replace(update, description="<p>Testo corretto.</p>")
    feed_server.serve("/news.xml", [dataclasses.replace(item(4), guid="altro"), edited])
    assert len((await poller.poll_feed(feed_id)).notification_ids) == 1  # item 4 only
