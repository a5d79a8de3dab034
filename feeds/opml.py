"""Importing and exporting feed lists as OPML (1.0 and 2.0)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.parsers import expat

FEED_TYPES = frozenset({"rss", "atom", "rdf", "feed"})


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    title: str
    language: str | None = None


class _OutlineCollector:
    """Streams the document with expat, refusing entity declarations (no XML bombs)."""

    def __init__(self) -> None:
        self.root: str | None = None
        self.has_body = False
        self.feeds: dict[str, OpmlFeed] = {}

    def parse(self, data: bytes) -> None:
        parser = expat.ParserCreate()
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.EntityDeclHandler = self._refuse_entities
        parser.StartElementHandler = self._start
        try:
            parser.Parse(data, True)
        except expat.ExpatError as error:
            raise ValueError(
                f"Not an OPML document: the XML is not well-formed ({error})"
            ) from None

    def _refuse_entities(self, *_args: object) -> None:
        raise ValueError("Not accepted: the OPML document declares XML entities")

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if self.root is None:
            self.root = name
            if name.lower() != "opml":
                raise ValueError(f"Not an OPML document: the root element is <{name}>, not <opml>")
        elif name == "body":
            self.has_body = True
        elif name == "outline":
            self._outline(attributes)

    def _outline(self, attributes: dict[str, str]) -> None:
        url = (attributes.get("xmlUrl") or attributes.get("xmlurl") or "").strip()
        kind = (attributes.get("type") or "rss").strip().lower()
        if not url or kind not in FEED_TYPES or not _is_http_url(url) or url in self.feeds:
            return
        title = (attributes.get("title") or attributes.get("text") or url).strip()
        language = (attributes.get("language") or "").strip() or None
        self.feeds[url] = OpmlFeed(url=url, title=title, language=language)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML document, nested outlines included, in document order, each
    URL once. Outlines that are not feeds (other types, no xmlUrl, non-http URL) are skipped.
    Raises ValueError for anything that is not an OPML document."""
    if not data or not data.strip():
        raise ValueError("Not an OPML document: the file is empty")
    collector = _OutlineCollector()
    collector.parse(data)
    if not collector.has_body:
        raise ValueError("Not an OPML document: it has no <body>")
    return list(collector.feeds.values())


def build_opml(feeds: Iterable[OpmlFeed], title: str) -> bytes:
    """An OPML 2.0 document (UTF-8) listing `feeds`."""
    opml = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(opml, "head")
    ElementTree.SubElement(head, "title").text = title
    body = ElementTree.SubElement(opml, "body")
    for feed in feeds:
        attributes = {"type": "rss", "text": feed.title, "title": feed.title, "xmlUrl": feed.url}
        if feed.language:
            attributes["language"] = feed.language
        ElementTree.SubElement(body, "outline", attributes)
    ElementTree.indent(opml)
    return ElementTree.tostring(opml, encoding="utf-8", xml_declaration=True) + b"\n"
