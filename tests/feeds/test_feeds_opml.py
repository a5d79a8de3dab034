"""OPML import and export."""

from __future__ import annotations

import pytest

from feeds.opml import OpmlFeed, build_opml, parse_opml

NESTED = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Fonti del Piano Strategico</title></head>
  <body>
    <outline text="Città Metropolitana">
      <outline type="rss" text="Notizie" language="it"
               xmlUrl="https://www.cittametropolitana.genova.it/rss.xml"/>
      <outline text="Ambiente">
        <outline type="atom" title="Ambiente – notizie" text="x"
                 xmlUrl="https://ambiente.cittametropolitana.genova.it/feed.atom"/>
      </outline>
    </outline>
    <outline text="Comune di Sant’Olcese" xmlUrl="https://www.comune.santolcese.ge.it/feed"/>
    <outline type="link" text="Sito del Piano" url="https://pianostrategico.cittametropolitana.genova.it/"/>
    <outline type="rss" text="Non http" xmlUrl="ftp://example.org/feed"/>
    <outline type="rss" text="Doppione" xmlUrl="https://www.cittametropolitana.genova.it/rss.xml"/>
  </body>
</opml>""".encode()


def test_parse_nested_outlines():
    assert parse_opml(NESTED) == [
        OpmlFeed("https://www.cittametropolitana.genova.it/rss.xml", "Notizie", "it"),
        OpmlFeed("https://ambiente.cittametropolitana.genova.it/feed.atom", "Ambiente – notizie"),
        OpmlFeed("https://www.comune.santolcese.ge.it/feed", "Comune di Sant’Olcese"),
    ]


def test_round_trip():
    feeds = parse_opml(NESTED)
    document = build_opml(feeds, "Fonti – psm-bot")
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert parse_opml(document) == feeds
    assert "Fonti – psm-bot".encode() in document


def test_build_escapes_attributes():
    feed = OpmlFeed('https://x.it/?a=1&b="2"', 'Titolo <con> "virgolette" & più')
    assert parse_opml(build_opml([feed], "t")) == [feed]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"<html><body><p>pagina</p></body></html>", "root element is <html>"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "root element is <rss>"),
        (b"<opml version='2.0'><head/></opml>", "no <body>"),
        (b"<opml><body><outline", "not well-formed"),
        (b"\x89PNG\r\n\x1a\n", "not well-formed"),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<opml><body><outline text='&b;' xmlUrl='https://x.it'/></body></opml>",
            "entities",
        ),
    ],
)
def test_rejects_what_is_not_opml(data, message):
    with pytest.raises(ValueError, match=message):
        parse_opml(data)
