"""Stable identity of a feed item, used by the bot to remember what it already notified.

The identity depends only on the item itself (guid, link, title, date), never on the URL of
the feed, so a feed that moves (a redirect, a new address in the registry) does not notify
its items again: a relative guid or link counts as written in the document, unresolved.
Entries of one document sharing a guid but differing in content are told apart by
`variant_identity`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MAX_IDENTITY_LENGTH = 255

TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "igshid", "mc_cid", "mc_eid", "_hsenc", "_hsmi"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WHITESPACE = re.compile(r"\s+")


def entry_identity(
    guid: str | None,
    link: str | None,
    title: str | None,
    published: datetime | str | None,
) -> str:
    """`guid:…`, else `link:…` (normalised), else `hash:…` of title and date; ≤ 255 chars."""
    guid = (guid or "").strip()
    if guid:
        return _bounded("guid:", guid)
    normalised_link = normalize_link(link) if link else ""
    if normalised_link:
        return _bounded("link:", normalised_link)
    return "hash:" + _sha256(f"{_squash(title)}\n{_date_text(published)}")


def variant_identity(identity: str, *content: str) -> str:
    """The identity of an entry that shares `identity` with a different entry of the same
    document: the shared one followed by a digest of the entry's content; ≤ 255 chars."""
    variant = f"{identity}#{_sha256(chr(31).join(content))[:16]}"
    if len(variant) <= MAX_IDENTITY_LENGTH:
        return variant
    return "variant:" + _sha256(variant)


def normalize_link(link: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters."""
    link = link.strip()
    try:
        parts = urlsplit(link)
        port = parts.port
    except ValueError:
        return link
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:  # a relative link, as the document gives it
        return urlunsplit((scheme, parts.netloc, parts.path, _without_tracking(parts.query), ""))
    netloc = _netloc(parts.username, parts.password, host, port, scheme)
    return urlunsplit((scheme, netloc, parts.path or "/", _without_tracking(parts.query), ""))


def _netloc(
    user: str | None, password: str | None, host: str, port: int | None, scheme: str
) -> str:
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if user is None:
        return host
    credentials = user if password is None else f"{user}:{password}"
    return f"{credentials}@{host}"


def _without_tracking(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if not _is_tracking(key)]
    if len(kept) == len(pairs):
        return query  # leave untouched queries byte for byte
    return urlencode(kept)


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key.startswith("utm_") or key in TRACKING_PARAMS


def _bounded(prefix: str, value: str) -> str:
    if len(prefix) + len(value) <= MAX_IDENTITY_LENGTH:
        return prefix + value
    return f"{prefix}sha256:{_sha256(value)}"


def _squash(text: str | None) -> str:
    return _WHITESPACE.sub(" ", text or "").strip()


def _date_text(published: datetime | str | None) -> str:
    if published is None:
        return ""
    if isinstance(published, datetime):
        if published.tzinfo is None:
            published = published.replace(tzinfo=UTC)
        return published.astimezone(UTC).isoformat()
    return published.strip()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
