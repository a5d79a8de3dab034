"""Item identity: stable across re-ordering and re-fetching, never tied to the feed URL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

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


# A feed whose guids, Atom ids and links are relative: feedparser resolves them against
# the address the document was fetched from, which must not leak into identities.
RELATIVE_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Notizie</title><link>/</link>
<item><title>Permalink relativo</title><guid>/notizie/12345</guid></item>
<item><title>Guid numerico</title><guid>12346</guid><link>/notizie/12346</link></item>
<item><title>Solo link</title><link>/notizie/12347?utm_source=rss</link></item>
<item><title>Guid non permalink</title><guid isPermaLink="false">psm-12348</guid></item>
</channel></rss>"""
RELATIVE_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/blog/"><title>Notizie</title>
<entry><id>42</id><title>Id relativo</title><link href="post/42"/>
<updated>2026-03-01T10:00:00Z</updated></entry>
<entry><title>Senza id</title><link href="post/43"/><updated>2026-03-01T11:00:00Z</updated></entry>
</feed>"""
MOVES = [
    ("http://www.comune.rapallo.ge.it/rss.xml", "https://www.comune.rapallo.ge.it/rss.xml"),
    ("http://www.comune.rapallo.ge.it/rss.xml", "https://feeds.example.org/rapallo/news"),
]


def test_relative_identities_do_not_depend_on_the_feed_url():
    for document in (RELATIVE_RSS, RELATIVE_ATOM):
        for old_url, new_url in MOVES:
            old = parse_feed_sync(document, base_url=old_url)
            new = parse_feed_sync(document, base_url=new_url)
            assert [e.identity for e in old.entries] == [e.identity for e in new.entries]
            assert all("rapallo" not in e.identity for e in new.entries)
            # what a person opens still resolves against where the feed now is
            for entry in new.entries:
                if entry.link:
                    assert urlsplit(entry.link)[:2] == urlsplit(new_url)[:2], entry.link


def test_identities_stored_before_are_kept_as_legacy_identities():
    """Identities the bot stored when they were resolved against the feed's URL still
    count as seen: each entry says which identity it had then."""
    base = "http://www.comune.rapallo.ge.it/rss.xml"
    entries = parse_feed_sync(RELATIVE_RSS, base_url=base).entries
    legacy = {e.title: e.legacy_identities for e in entries}
    assert legacy["Permalink relativo"] == ("guid:http://www.comune.rapallo.ge.it/notizie/12345",)
    assert legacy["Solo link"] == ("link:http://www.comune.rapallo.ge.it/notizie/12347",)
    assert legacy["Guid numerico"] == ("guid:http://www.comune.rapallo.ge.it/12346",)
    unresolved = next(e for e in entries if e.title == "Guid non permalink")
    assert unresolved.identity == "guid:psm-12348"  # never resolved, then as now
    atom = parse_feed_sync(RELATIVE_ATOM, base_url=base).entries
    assert [e.legacy_identities for e in atom] == [
        ("guid:http://www.comune.rapallo.ge.it/blog/42",),
        ("link:http://www.comune.rapallo.ge.it/blog/post/43",),
    ]
    also = parse_feed_sync(
        RELATIVE_ATOM, base_url=base, legacy_base_urls=("https://old.example.org/x/feed",)
    ).entries
    assert "guid:https://old.example.org/blog/42" in also[0].legacy_identities


def _atom(*entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Notizie</title>" + "".join(entries) + "</feed>"
    ).encode()


def _entry(title: str, updated: str, guid: str = "tag:psm.genova.it,2026:7") -> str:
    return (
        f"<entry><id>{guid}</id><title>{title}</title><updated>{updated}</updated>"
        f"<summary>{title}: testo</summary></entry>"
    )


def test_entries_sharing_a_guid_are_told_apart_and_true_duplicates_are_not():
    original = _entry("Bando aperto", "2026-03-01T10:00:00Z")
    update = _entry("Bando aperto: scadenza prorogata", "2026-03-05T10:00:00Z")
    other = _entry("Altro avviso", "2026-03-02T10:00:00Z", guid="tag:psm.genova.it,2026:8")
    entries = parse_feed_sync(_atom(update, other, original, original), base_url=MOVES[0][0])
    identities = [e.identity for e in entries.entries]
    # the oldest keeps the guid's identity (what was stored when it was alone), the update
    # gets one of its own; the repeated copy of the original is the same item
    assert identities[0] == identities[1] == "guid:tag:psm.genova.it,2026:7"
    assert identities[2] == "guid:tag:psm.genova.it,2026:8"
    assert identities[3].startswith("guid:tag:psm.genova.it,2026:7#")
    again = parse_feed_sync(_atom(original, update, other), base_url=MOVES[1][1])
    assert {e.identity for e in again.entries} == set(identities)
    alone = parse_feed_sync(_atom(original), base_url=MOVES[0][0])
    assert alone.entries[0].identity == identities[0]
