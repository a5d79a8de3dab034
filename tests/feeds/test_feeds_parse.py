"""Parsing real-world-shaped feeds: formats, encodings, broken documents, big ones."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import pytest
from feeds_testdata import read_data

from feeds.parse import parse_feed, parse_feed_sync
from feeds.telegram_html import sanitize_html

BASE = "https://www.cittametropolitana.genova.it/feed/notizie.xml"


def parse(name: str, **kwargs):
    return parse_feed_sync(read_data(name), base_url=BASE, **kwargs)


def test_rss2_with_guids():
    feed = parse("rss2_guid.xml", content_type="application/rss+xml")
    assert (feed.usable, feed.bozo, feed.bozo_reason) == (True, False, None)
    assert feed.title == "Città Metropolitana di Genova – Notizie"
    assert feed.language == "it-IT"
    assert feed.link == "https://www.cittametropolitana.genova.it/it/news"
    titles = [entry.title for entry in feed.entries]
    assert titles == [
        "Santo Stefano d'Aveto: nuova seggiovia, firmato l’accordo",
        "Sant’Olcese, al via i lavori sulla strada provinciale",
        "Piano Strategico Metropolitano: l’incontro a Sestri Levante con i comuni del Tigullio",
    ]
    newest = feed.entries[-1]
    assert newest.identity == (
        "guid:https://www.cittametropolitana.genova.it/it/news/webnews/psm-incontro-sestri-levante"
    )
    assert newest.published == datetime(2025, 3, 12, 8, 30, tzinfo=UTC)
    assert newest.author == "Ufficio Stampa"
    assert newest.categories == ["Piano Strategico", "Tigullio"]
    assert (
        newest.image_url
        == "https://www.cittametropolitana.genova.it/sites/default/files/sestri.jpg"
    )
    assert 'href="/it/psm"' in newest.summary_html  # raw: resolved when sanitized
    assert newest.base_url == BASE
    sanitized = sanitize_html(newest.summary_html, base_url=newest.base_url)
    assert 'href="https://www.cittametropolitana.genova.it/it/psm"' in sanitized
    assert "<h2>Il programma</h2>" in newest.content_html


def test_media_content_and_thumbnail_give_images_resolved_against_the_base():
    feed = parse("rss2_guid.xml")
    images = [entry.image_url for entry in feed.entries]
    assert images[:2] == [
        "https://www.cittametropolitana.genova.it/sites/default/files/thumb-aveto.jpg",
        "https://www.cittametropolitana.genova.it/sites/default/files/santolcese.png",
    ]


def test_rss2_guid_not_permalink_is_still_the_identity():
    feed = parse("rss2_guid_not_permalink.xml")
    assert [entry.identity for entry in feed.entries] == [
        "guid:psm-agenda-2025-0042",
        "guid:psm-agenda-2025-0043",
    ]
    assert feed.entries[0].link.startswith("https://pianostrategico.cittametropolitana.genova.it/")


def test_rss2_without_guid_uses_links_then_a_hash():
    feed = parse("rss2_no_guid.xml")
    identities = [entry.identity for entry in feed.entries]
    assert identities[0].startswith("hash:")
    assert identities[1:] == [
        "link:https://www.comune.sestri-levante.ge.it/avvisi/differenziata",
        "link:/avvisi/chiusura-anagrafe?id=77",  # relative: as written, tracking removed
    ]
    assert feed.entries[2].legacy_identities == (
        "link:https://www.cittametropolitana.genova.it/avvisi/chiusura-anagrafe?id=77",
    )
    assert feed.entries[0].link is None
    # Without dates everywhere, document order reversed: the first item is the newest.
    assert feed.entries[-1].title == "Chiusura temporanea dell'ufficio anagrafe"


def test_atom():
    feed = parse("atom.xml")
    assert (feed.usable, feed.bozo) == (True, False)
    assert feed.language == "it"
    first, second = feed.entries
    assert first.title == "Chiavari ospita il tavolo sulla costa"
    assert first.published is None and first.updated == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    assert (
        first.summary_html == "Testo semplice, con &lt;tag&gt; che non è HTML.<br>\nSeconda riga."
    )
    assert second.title == "Approvato l’aggiornamento del Piano"  # type="html" made plain
    assert second.identity == "guid:tag:pianostrategico.cittametropolitana.genova.it,2025:entry-17"
    assert second.link == "https://www.cittametropolitana.genova.it/content/aggiornamento-2025"
    assert second.published == datetime(2025, 3, 14, 15, 45, tzinfo=UTC)
    assert second.updated == datetime(2025, 3, 15, 8, 0, tzinfo=UTC)
    assert second.author == "Direzione Generale"
    assert second.categories == ["S1"]
    assert (
        second.image_url == "https://pianostrategico.cittametropolitana.genova.it/img/consiglio.png"
    )
    assert "<strong>disponibile</strong>" in second.content_html


def test_rss1_rdf():
    feed = parse("rss1_rdf.xml")
    assert feed.usable and feed.language == "it"
    assert [entry.title for entry in feed.entries] == [
        "Settimana dell’amministrazione aperta",
        "Qualità dell’aria: i dati di febbraio",
    ]
    assert feed.entries[1].identity == (
        "guid:https://ambiente.cittametropolitana.genova.it/it/news/qualita-aria"
    )
    assert feed.entries[1].updated.tzinfo is UTC


@pytest.mark.parametrize(
    "content_type", [None, "application/rss+xml", "text/xml", "text/xml; charset=iso-8859-1"]
)
def test_iso_8859_1_feed(content_type):
    feed = parse("iso8859_1.xml", content_type=content_type)
    assert feed.usable
    assert feed.title == "Città Metropolitana di Genova - Comunicati"
    assert feed.entries[0].title == "Mobilità: approvato il PUMS, più corse per Sant'Olcese"
    assert "all'unanimità. «Un risultato importante»" in feed.entries[0].summary_html


def test_wrongly_declared_encoding_is_recovered():
    feed = parse("wrong_encoding.xml", content_type="application/rss+xml; charset=utf-8")
    assert feed.usable and feed.bozo
    assert "windows-1252" in feed.bozo_reason
    assert feed.entries[0].title == "Mobilità: approvato il PUMS, più corse per Sant'Olcese"


def test_malformed_feed_with_usable_entries():
    feed = parse("malformed_bozo.xml")
    assert feed.usable and feed.bozo
    assert "not well-formed" in feed.bozo_reason
    assert [entry.title for entry in feed.entries] == [
        "Bogliasco, nuova passeggiata a mare",
        "Recco & Camogli: patto per lo sviluppo",
    ]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (read_data("not_a_feed.html"), "text/html"),
        (read_data("not_a_feed.html"), None),
        (b"\x00\x01\x02 total garbage \xff\xfe", "application/octet-stream"),
        (b"", None),
        (b'{"json": "non un feed"}', "application/json"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Troncato', None),
    ],
)
def test_not_a_feed_is_unusable_with_a_reason(content, content_type):
    feed = parse_feed_sync(content, base_url=BASE, content_type=content_type)
    assert not feed.usable
    assert feed.entries == []
    assert feed.bozo_reason


def test_xml_base_gives_the_base_url_of_entry_html():
    content = b"""<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://psm.example/base/">
      <title>x</title><entry xml:base="notizie/"><title>t</title><id>1</id><link href="uno"/>
      <summary type="html">&lt;a href="allegato.pdf"&gt;allegato&lt;/a&gt;</summary>
      </entry></feed>"""
    entry = parse_feed_sync(content, base_url=BASE).entries[0]
    assert entry.link == "https://psm.example/base/notizie/uno"
    assert entry.base_url == "https://psm.example/base/notizie/"
    assert sanitize_html(entry.summary_html, base_url=entry.base_url) == (
        '<a href="https://psm.example/base/notizie/allegato.pdf">allegato</a>'
    )


def test_an_empty_well_formed_feed_is_usable():
    content = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Vuoto</title></channel></rss>'
    )
    feed = parse_feed_sync(content, base_url=BASE)
    assert feed.usable and feed.entries == [] and feed.title == "Vuoto"


def test_entries_with_nothing_to_show_are_skipped_and_unsafe_links_dropped():
    content = b"""<rss version="2.0"><channel><title>x</title>
      <item><guid isPermaLink="false">vuoto</guid></item>
      <item><title>Solo titolo</title><link>javascript:alert(1)</link></item>
    </channel></rss>"""
    feed = parse_feed_sync(content, base_url=BASE)
    assert [entry.title for entry in feed.entries] == ["Solo titolo"]
    assert feed.entries[0].link is None


def rss(items: str) -> bytes:
    return f'<rss version="2.0"><channel><title>x</title>{items}</channel></rss>'.encode()


def test_dated_entries_are_sorted_oldest_first_whatever_the_document_order():
    items = "".join(
        f"<item><title>n{n}</title><guid>g{n}</guid>"
        f"<pubDate>{day:02d} Mar 2025 10:00 GMT</pubDate></item>"
        for n, day in enumerate([5, 1, 9, 3])
    )
    feed = parse_feed_sync(rss(items), base_url=BASE)
    assert [entry.title for entry in feed.entries] == ["n1", "n3", "n0", "n2"]


def huge_feed(items: int) -> bytes:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    site = "https://www.cittametropolitana.genova.it/it/news"
    return rss(
        "".join(
            f"""<item><title>Notizia {n}: la Città Metropolitana per Sestri Levante</title>
<link>{site}/{n}</link><guid>{site}/{n}</guid>
<pubDate>{(start + timedelta(hours=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")}</pubDate>
<description><![CDATA[<p>Notizia <b>{n}</b> sul Piano Strategico Metropolitano.</p>]]></description>
</item>"""
            for n in range(items)
        )
    )


async def test_huge_feed_parses_off_the_event_loop():
    content = huge_feed(3000)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    feed = await parse_feed(content, base_url=BASE, content_type="application/rss+xml")
    ticking.cancel()
    assert feed.usable and len(feed.entries) == 3000
    assert feed.entries[0].title.startswith("Notizia 0:")
    assert feed.entries[-1].title.startswith("Notizia 2999:")
    assert len({entry.identity for entry in feed.entries}) == 3000
    # The loop kept running while parsing (on the loop itself it could not tick at all); how
    # often depends on the machine's load, since the parse holds the GIL most of the time.
    assert ticks >= 3


def _atom_entry(feed_attributes: str, entry: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed {feed_attributes}>'
        f"<entry><id>tag:x,2026:1</id>{entry}</entry></feed>"
    ).encode()


ATOM_03 = 'version="0.3" xmlns="http://purl.org/atom/ns#"'
ATOM_10 = 'xmlns="http://www.w3.org/2005/Atom"'


EXAMPLE_ATOM = "RXhhbXBsZSA8Yj5BdG9tPC9iPg=="  # "Example <b>Atom</b>"
BLINK = "PHA+SGlzdG9yeSBvZiB0aGUgJmx0O2JsaW5rJmd0OyB0YWc8L3A+"  # "<p>History of the &lt;blink…"


@pytest.mark.parametrize(
    ("document", "title"),
    [
        # feedparser's own test documents: base64 titles, declared text/plain or octet-stream
        (_atom_entry(ATOM_03, f'<title mode="base64">{EXAMPLE_ATOM}</title>'), "Example Atom"),
        (
            _atom_entry(ATOM_10, f'<title type="application/octet-stream">{BLINK}</title>'),
            "History of the <blink> tag",
        ),
        # plain text that merely mentions a tag stays as it is
        (
            _atom_entry(ATOM_10, "<title>Usare &lt;b&gt; per il grassetto</title>"),
            "Usare <b> per il grassetto",
        ),
    ],
)
def test_base64_and_plain_titles_are_read_as_a_person_sees_them(document, title):
    [entry] = parse_feed_sync(document, base_url=BASE).entries
    assert entry.title == title


def test_base64_content_is_read_as_html():
    content = base64.b64encode(b"<p>Primo.</p><p>Secondo &amp; ultimo.</p>").decode()
    document = _atom_entry(ATOM_03, f'<title>T</title><content mode="base64">{content}</content>')
    [entry] = parse_feed_sync(document, base_url=BASE).entries
    assert entry.content_html == "<p>Primo.</p><p>Secondo &amp; ultimo.</p>"


def test_control_characters_leave_titles_and_authors():
    document = _atom_entry(
        ATOM_10,
        "<title>Bando&#26; aperto&#133;</title><author><name>Ufficio&#27;stampa</name></author>",
    )
    [entry] = parse_feed_sync(document, base_url=BASE).entries
    assert (entry.title, entry.author) == ("Bando aperto", "Ufficiostampa")
