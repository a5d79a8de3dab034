"""Parsing RSS 0.9x/2.0, RSS 1.0 (RDF) and Atom documents with feedparser, off the event loop.

`summary_html` and `content_html` are the feed's own HTML, untrusted: show them only through
`sanitize_html(html, base_url=entry.base_url)`, which also resolves their relative links
(`base_url` honours xml:base; leaving that to feedparser would double the parsing time).

feedparser is not told where the document came from: it would resolve guids, Atom ids and
links against that address, and identities must not change when a feed moves. Links people
open are resolved here instead. Titles and texts are plain of control characters, and a
text declared plain (or base64-encoded) that is plainly HTML is read as HTML.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html as html_lib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.entities import entitydefs
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from .identity import entry_identity, variant_identity
from .telegram_html import html_to_text, strip_control_characters

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
# Declared plain text, or base64 (Atom 0.3 mode="base64" is text/plain to feedparser,
# Atom 1.0 type="application/octet-stream"): HTML when it looks like HTML.
_MAYBE_HTML_TYPES = frozenset({"text/plain", "application/octet-stream"})
_HTML_ELEMENTS = frozenset({
    "a", "abbr", "acronym", "address", "article", "aside", "b", "big", "blockquote", "br",
    "caption", "center", "cite", "code", "dd", "del", "details", "dfn", "div", "dl", "dt",
    "em", "figcaption", "figure", "font", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s",
    "samp", "section", "small", "span", "strike", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
})  # fmt: skip
_CLOSING_TAG_OR_REFERENCE = re.compile(r"</\w+>|&#?\w+;")
_TAG_NAME = re.compile(r"</?(\w+)")
_NAMED_REFERENCE = re.compile(r"&(\w+);")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".svg")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FeedEntry:
    identity: str  # feeds.identity: never depends on where the document came from
    guid: str | None
    link: str | None
    title: str  # plain text
    summary_html: str  # untrusted feed HTML
    content_html: str  # untrusted feed HTML
    published: datetime | None  # aware, UTC
    updated: datetime | None  # aware, UTC
    author: str | None
    categories: list[str] = field(default_factory=list)
    image_url: str | None = None
    base_url: str | None = None  # for relative links in summary_html / content_html
    # What earlier versions stored as the identity (guid and link resolved against the
    # feed's URL), when it differs: an item seen under one of these is not new.
    legacy_identities: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    link: str | None
    language: str | None
    entries: list[FeedEntry]  # oldest first
    bozo: bool
    bozo_reason: str | None
    usable: bool


async def parse_feed(
    content: bytes,
    *,
    base_url: str,
    content_type: str | None = None,
    legacy_base_urls: Sequence[str] = (),
) -> ParsedFeed:
    """Parse in a worker thread: feedparser is pure Python and a big feed takes a while."""
    return await asyncio.to_thread(
        parse_feed_sync,
        content,
        base_url=base_url,
        content_type=content_type,
        legacy_base_urls=legacy_base_urls,
    )


def parse_feed_sync(
    content: bytes,
    *,
    base_url: str,
    content_type: str | None = None,
    legacy_base_urls: Sequence[str] = (),
) -> ParsedFeed:
    """`base_url` is where the document was fetched from (relative links resolve to it);
    `content_type` is the HTTP Content-Type header, whose charset takes part in decoding.
    Legacy identities are computed against `base_url` and `legacy_base_urls` (where the
    feed was before a redirect)."""
    document = feedparser.parse(
        content,
        response_headers={"content-type": content_type or "application/xml"},
        resolve_relative_uris=False,  # sanitize_html(…, base_url=entry.base_url) does it
        sanitize_html=False,  # sanitize_html() does it, for Telegram's subset
    )
    raw_entries = document.get("entries", [])
    legacy_bases = tuple(dict.fromkeys((base_url, *legacy_base_urls)))
    entries = [
        entry
        for entry in (_entry(raw, base_url, legacy_bases) for raw in raw_entries)
        if entry is not None
    ]
    bozo_reason = _bozo_reason(document)
    usable, unusable_reason = _usability(document, raw_entries, entries, bozo_reason)
    feed = document.get("feed", {})
    return ParsedFeed(
        title=_plain_title(feed),
        link=_http_url(feed.get("link"), base_url),
        language=(feed.get("language") or "").strip() or None,
        entries=_told_apart(_chronological(entries)),
        bozo=bool(document.get("bozo")),
        bozo_reason=bozo_reason if usable else unusable_reason,
        usable=usable,
    )


def _bozo_reason(document: Any) -> str | None:
    exception = document.get("bozo_exception")
    if not document.get("bozo") or exception is None:
        return None
    return f"{type(exception).__name__}: {exception}"


def _usability(
    document: Any, raw_entries: list, entries: list[FeedEntry], bozo_reason: str | None
) -> tuple[bool, str | None]:
    """A feed is usable with at least one usable entry, or when it is a well-formed
    feed that happens to be empty."""
    if entries:
        return True, None
    version = document.get("version") or ""
    if version and not document.get("bozo"):
        return True, None
    if not version:
        detail = f" ({bozo_reason})" if bozo_reason else ""
        return False, f"not an RSS, RDF or Atom feed{detail}"
    if raw_entries:
        return False, "no entry has a title, a link or any content"
    return False, f"malformed feed without usable entries ({bozo_reason})"


def _entry(raw: Any, base_url: str, legacy_bases: Sequence[str]) -> FeedEntry | None:
    title = _plain_title(raw)
    written_link = (raw.get("link") or "").strip() or None  # as the document gives it
    link = _http_url(written_link, base_url)
    summary_html = _html_of(raw.get("summary_detail"), raw.get("summary"))
    content_html = _content_html(raw)
    if not (title or link or summary_html.strip() or content_html.strip()):
        return None
    guid = (raw.get("id") or "").strip() or None
    # dict.get: FeedParserDict.get would pass `published` off as `updated` (with a warning)
    published = _utc(dict.get(raw, "published_parsed"))
    updated = _utc(dict.get(raw, "updated_parsed"))
    identity_link = written_link if link else None  # only links to web pages, then as now
    identity = entry_identity(guid, identity_link, title, published or updated)
    legacy = {
        entry_identity(
            _urljoin(base, guid), _http_url(written_link, base), title, published or updated
        )
        for base in legacy_bases
    }
    return FeedEntry(
        identity=identity,
        guid=guid,
        link=link,
        title=title,
        summary_html=summary_html,
        content_html=content_html,
        published=published,
        updated=updated,
        author=_plain_text(raw.get("author")) or None,
        categories=_categories(raw),
        image_url=_image_url(raw, base_url),
        base_url=_content_base(raw, base_url),
        legacy_identities=tuple(sorted(legacy - {identity})),
    )


def _urljoin(base: str, value: str | None) -> str | None:
    """What feedparser made of a relative guid when it knew the document's URL."""
    if not value:
        return value
    try:
        return urljoin(base, value)
    except ValueError:
        return value


def _told_apart(entries: list[FeedEntry]) -> list[FeedEntry]:
    """Entries sharing an identity: copies of the oldest keep it (they are one item), each
    different entry gets a variant of it. The oldest keeps the identity it had while it was
    alone in the feed; once it leaves, the next takes it over, already seen."""
    first_of: dict[str, str] = {}
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.identity] = counts.get(entry.identity, 0) + 1
        first_of.setdefault(entry.identity, _content_key(entry))
    told_apart = []
    for entry in entries:
        key = _content_key(entry)
        if counts[entry.identity] > 1 and key != first_of[entry.identity]:
            variant = variant_identity(entry.identity, key)
            entry = dataclasses.replace(entry, identity=variant, legacy_identities=())
        told_apart.append(entry)
    return told_apart


def _content_key(entry: FeedEntry) -> str:
    dates = [date.isoformat() if date else "" for date in (entry.published, entry.updated)]
    return chr(31).join(
        [entry.title, entry.link or "", entry.summary_html, entry.content_html, *dates]
    )


def _plain_title(node: Any) -> str:
    title = node.get("title") or ""
    detail = node.get("title_detail") or {}
    if _is_html(detail.get("type"), title) and ("<" in title or "&" in title):
        title = html_to_text(title)
    return _plain_text(title)


def _plain_text(value: str | None) -> str:
    """One line of text: no control characters, white space collapsed."""
    return _WHITESPACE.sub(" ", strip_control_characters(value or "")).strip()


def _is_html(content_type: str | None, value: str) -> bool:
    if content_type in _HTML_TYPES:
        return True
    return content_type in _MAYBE_HTML_TYPES and _looks_like_html(value)


def _looks_like_html(value: str) -> bool:
    """feedparser's guess for RSS, which it does not make for Atom nor for base64: a closing
    tag or a character reference, and only known elements and named references."""
    if not _CLOSING_TAG_OR_REFERENCE.search(value):
        return False
    if any(name.lower() not in _HTML_ELEMENTS for name in _TAG_NAME.findall(value)):
        return False
    return all(name in entitydefs for name in _NAMED_REFERENCE.findall(value))


def _html_of(detail: Any, value: str | None) -> str:
    value = value or ""
    if detail and detail.get("type") in _MAYBE_HTML_TYPES and not _looks_like_html(value):
        return html_lib.escape(value, quote=False).replace("\n", "<br>\n")
    return value


def _content_html(raw: Any) -> str:
    contents = raw.get("content") or []
    for content in contents:
        if content.get("type") in _HTML_TYPES and content.get("value"):
            return content["value"]
    for content in contents:
        if content.get("value"):
            return _html_of(content, content["value"])
    return ""


def _content_base(raw: Any, base_url: str) -> str:
    """Where relative links of the entry's HTML resolve (xml:base, else the document URL)."""
    details = [*(raw.get("content") or []), raw.get("summary_detail") or {}]
    for detail in details:
        if detail.get("base"):
            return _http_url(detail["base"], base_url) or base_url
    return base_url


def _utc(parsed: time.struct_time | None) -> datetime | None:
    """feedparser's dates are struct_time in UTC."""
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _categories(raw: Any) -> list[str]:
    terms = [_plain_text(tag.get("term") or tag.get("label")) for tag in raw.get("tags") or []]
    return list(dict.fromkeys(term for term in terms if term))


def _image_url(raw: Any, base_url: str) -> str | None:
    candidates = [
        enclosure.get("href")
        for enclosure in raw.get("enclosures") or []
        if (enclosure.get("type") or "").lower().startswith("image/")
    ]
    candidates += [
        media.get("url") for media in raw.get("media_content") or [] if _is_image_media(media)
    ]
    candidates += [thumbnail.get("url") for thumbnail in raw.get("media_thumbnail") or []]
    for candidate in candidates:
        url = _http_url(candidate, base_url)
        if url:
            return url
    return None


def _is_image_media(media: dict) -> bool:
    media_type = (media.get("type") or "").lower()
    if media_type:
        return media_type.startswith("image/")
    if media.get("medium"):
        return media["medium"] == "image"
    return urlsplit(media.get("url") or "").path.lower().endswith(_IMAGE_EXTENSIONS)


def _http_url(value: str | None, base_url: str) -> str | None:
    """An absolute http(s) URL resolved against `base_url`, or None."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        url = urljoin(base_url, value)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _chronological(entries: list[FeedEntry]) -> list[FeedEntry]:
    """Oldest first: by date when every entry has one, otherwise the reverse of the
    document order (feeds list the newest first). Ties keep reversed document order."""
    newest_last = list(reversed(entries))
    dated = [
        (stamp, entry)
        for entry in newest_last
        if (stamp := entry.published or entry.updated) is not None
    ]
    if len(dated) == len(newest_last):
        return [entry for _, entry in sorted(dated, key=lambda pair: pair[0])]
    return newest_last
