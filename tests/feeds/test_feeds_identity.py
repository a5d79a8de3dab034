"""Item identity: stable across re-ordering and re-fetching, never tied to the feed URL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from feeds_testdata import read_data

from feeds.identity import MAX_IDENTITY_LENGTH, entry_identity, normalize_link
from feeds.parse import parse_feed_sync


def test_guid_wins_and_is_trimmed():
    assert entry_identity("  psm-42 \n", "https://x.it/a", "Titolo", None) == "guid:psm-42"


def test_link_when_no_guid():
    identity = entry_identity(
        "  ", "HTTPS://WWW.Example.IT:443/News/1?utm_source=rss&id=3#top", "T", None
    )
    assert identity == "link:https://www.example.it/News/1?id=3"


def test_hash_when_neither_and_it_depends_on_title_and_date_only():
    published = datetime(2025, 3, 12, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    first = entry_identity(None, None, "Avviso  importante", published)
    same_instant_other_zone = entry_identity(
        "", "", " Avviso importante ", published.astimezone(UTC)
    )
    assert first == same_instant_other_zone
    assert re.fullmatch(r"hash:[0-9a-f]{64}", first)
    assert first != entry_identity(None, None, "Avviso importante", None)
    assert first != entry_identity(None, None, "Altro avviso", published)


def test_long_values_are_hashed_within_the_limit():
    long_guid = "g" * 400
    identity = entry_identity(long_guid, None, None, None)
    assert len(identity) <= MAX_IDENTITY_LENGTH
    assert identity == entry_identity(long_guid, None, None, None)
    assert identity != entry_identity("g" * 401, None, None, None)
    long_link = "https://x.it/" + "a" * 300
    assert entry_identity(None, long_link, None, None).startswith("link:sha256:")
    exactly = "g" * (MAX_IDENTITY_LENGTH - len("guid:"))
    assert entry_identity(exactly, None, None, None) == "guid:" + exactly


def test_link_normalisation():
    assert normalize_link("http://Example.org") == "http://example.org/"
    assert normalize_link("http://example.org:80/a") == "http://example.org/a"
    assert normalize_link("https://example.org:8443/a") == "https://example.org:8443/a"
    assert normalize_link("https://x.it/a?fbclid=1&gclid=2&UTM_Medium=3") == "https://x.it/a"
    assert normalize_link("https://x.it/a?b=1&a=2") == "https://x.it/a?b=1&a=2"  # order kept
    assert normalize_link("https://x.it/a?q=caf%C3%A8") == "https://x.it/a?q=caf%C3%A8"  # untouched
    assert normalize_link("https://x.it/a?q=1&utm_x=2&q2=%20") == "https://x.it/a?q=1&q2=+"


def _reordered(content: bytes) -> bytes:
    """The same RSS document with its items in reverse order."""
    text = content.decode("utf-8")
    items = re.findall(r"<item>.*?</item>", text, re.DOTALL)
    head, tail = text.split(items[0], 1)[0], text.rsplit(items[-1], 1)[1]
    return (head + "".join(reversed(items)) + tail).encode("utf-8")


def test_identities_do_not_depend_on_item_order():
    for name in ("rss2_guid.xml", "rss2_no_guid.xml", "rss2_guid_not_permalink.xml"):
        content = read_data(name)
        base = "https://www.cittametropolitana.genova.it/feed.xml"
        before = parse_feed_sync(content, base_url=base)
        after = parse_feed_sync(_reordered(content), base_url=base)
        assert {e.identity for e in before.entries} == {e.identity for e in after.entries}, name
        assert len({e.identity for e in before.entries}) == len(before.entries)


def test_identities_are_the_same_when_fetched_again():
    content = read_data("rss2_no_guid.xml")
    base = "https://www.comune.sestri-levante.ge.it/rss"
    first = parse_feed_sync(content, base_url=base)
    second = parse_feed_sync(content, base_url=base)
    assert [e.identity for e in first.entries] == [e.identity for e in second.entries]


def test_absolute_identities_do_not_depend_on_the_feed_url():
    content = read_data("rss2_guid.xml")
    old = parse_feed_sync(content, base_url="http://old.example.org/rss.xml")
    new = parse_feed_sync(content, base_url="https://new.example.org/feeds/news.xml")
    assert [e.identity for e in old.entries] == [e.identity for e in new.entries]
