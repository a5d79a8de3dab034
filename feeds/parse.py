"""Parsing RSS 0.9x/2.0, RSS 1.0 (RDF) and Atom documents with feedparser, off the event loop.

`summary_html` and `content_html` are the feed's own HTML, untrusted: show them only through
`sanitize_html(html, base_url=entry.base_url)`, which also resolves their relative links
(`base_url` honours xml:base; leaving that to feedparser would double the parsing time).
"""

from __future__ import annotations

import asyncio
import html as html_lib
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from .identity import entry_identity
from .telegram_html import html_to_text

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".svg")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FeedEntry:
    identity: str
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
    content: bytes, *, base_url: str, content_type: str | None = None
) -> ParsedFeed:
    """Parse in a worker thread: feedparser is pure Python and a big feed takes a while."""
    return await asyncio.to_thread(
        parse_feed_sync, content, base_url=base_url, content_type=content_type
    )


def parse_feed_sync(
    content: bytes, *, base_url: str, content_type: str | None = None
) -> ParsedFeed:
    """`base_url` is where the document was fetched from (relative links resolve to it);
    `content_type` is the HTTP Content-Type header, whose charset takes part in decoding."""
    document = feedparser.parse(
        content,
        response_headers={
            "content-location": base_url,
            "content-type": content_type or "application/xml",
        },
        resolve_relative_uris=False,  # sanitize_html(…, base_url=entry.base_url) does it
        sanitize_html=False,  # sanitize_html() does it, for Telegram's subset
    )
    raw_entries = document.get("entries", [])
    entries = [
        entry for entry in (_entry(raw, base_url) for raw in raw_entries) if entry is not None
    ]
    bozo_reason = _bozo_reason(document)
    usable, unusable_reason = _usability(document, raw_entries, entries, bozo_reason)
    feed = document.get("feed", {})
    return ParsedFeed(
        title=_plain_title(feed),
        link=_http_url(feed.get("link"), base_url),
        language=(feed.get("language") or "").strip() or None,
        entries=_chronological(entries),
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


def _entry(raw: Any, base_url: str) -> FeedEntry | None:
    title = _plain_title(raw)
    link = _http_url(raw.get("link"), base_url)
    summary_html = _html_of(raw.get("summary_detail"), raw.get("summary"))
    content_html = _content_html(raw)
    if not (title or link or summary_html.strip() or content_html.strip()):
        return None
    guid = (raw.get("id") or "").strip() or None
    # dict.get: FeedParserDict.get would pass `published` off as `updated` (with a warning)
    published = _utc(dict.get(raw, "published_parsed"))
    updated = _utc(dict.get(raw, "updated_parsed"))
    return FeedEntry(
        identity=entry_identity(guid, link, title, published or updated),
        guid=guid,
        link=link,
        title=title,
        summary_html=summary_html,
        content_html=content_html,
        published=published,
        updated=updated,
        author=(raw.get("author") or "").strip() or None,
        categories=_categories(raw),
        image_url=_image_url(raw, base_url),
        base_url=_content_base(raw, base_url),
    )


def _plain_title(node: Any) -> str:
    title = node.get("title") or ""
    detail = node.get("title_detail") or {}
    if detail.get("type") in _HTML_TYPES and ("<" in title or "&" in title):
        title = html_to_text(title)
    return _WHITESPACE.sub(" ", title).strip()


def _html_of(detail: Any, value: str | None) -> str:
    value = value or ""
    if detail and detail.get("type") == "text/plain":
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
    terms = [(tag.get("term") or tag.get("label") or "").strip() for tag in raw.get("tags") or []]
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
    if all(entry.published or entry.updated for entry in entries):
        return sorted(newest_last, key=lambda entry: entry.published or entry.updated)
    return newest_last
