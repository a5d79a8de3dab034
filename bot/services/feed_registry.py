"""The feeds the bot follows: adding, listing, pausing, removing, OPML import and export.

Callers open the transaction; errors are `FeedError`s with one line for the operator, in the
current language (staff in Telegram read theirs; the command line speaks English).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Feed, Strategy, Zone
from bot.i18n import _, ngettext
from feeds import policy
from feeds.opml import OpmlFeed, build_opml, parse_opml

MAX_URL_LENGTH = 2048
MAX_TITLE_LENGTH = 300
OPERATOR_PAUSE_REASON = "paused by an operator"
OPML_TITLE = "psm-bot: feeds of the Piano Strategico Metropolitano di Genova"
# A newly added feed waits up to this long for its first poll, so that feeds imported
# together are not all fetched in the same second.
FIRST_POLL_SPREAD_S = 60.0
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")


class FeedError(ValueError):
    """A feed operation that cannot be done; the message is one line for the operator."""


@dataclass(frozen=True)
class FeedSpec:
    """What an operator gives to add a feed."""

    url: str
    title: str | None = None
    language: str | None = None
    strategies: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    interval_s: int = policy.DEFAULT_INTERVAL_S
    first_poll_backlog: int = 0


@dataclass
class OpmlImport:
    added: list[Feed] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, why)


def checked_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise FeedError(_("the feed URL is empty"))
    if len(url) > MAX_URL_LENGTH or any(char.isspace() for char in url):
        raise FeedError(_("not a valid feed URL: {url}").format(url=repr(url[:100])))
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise FeedError(_("not a valid feed URL: {url}").format(url=url)) from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise FeedError(
            _("the feed URL must start with http:// or https:// and name a host: {url}").format(
                url=url
            )
        )
    return url


def checked_interval(seconds: int | float) -> int:
    try:
        policy.validate_interval(seconds)
    except ValueError:
        raise FeedError(
            _("the polling interval must be at least {minimum} seconds, got {seconds}").format(
                minimum=policy.MIN_INTERVAL_S, seconds=seconds
            )
        ) from None
    return round(seconds)


def checked_language(language: str | None) -> str | None:
    if language is None or not language.strip():
        return None
    code = language.strip().lower().replace("_", "-")
    if not _LANGUAGE.match(code):
        raise FeedError(
            _("not a language code (such as it or en): {language}").format(language=language)
        )
    return code


def checked_backlog(backlog: int) -> int:
    if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
        raise FeedError(
            _("the first-poll backlog must be zero or more items, got {backlog}").format(
                backlog=backlog
            )
        )
    return backlog


async def _checked_ids(
    session: AsyncSession, model: type[Strategy] | type[Zone], ids: Iterable[str]
) -> list[str]:
    wanted = list(dict.fromkeys(i.strip() for i in ids if i and i.strip()))
    if not wanted:
        return []
    known = list(await session.scalars(select(model.id).order_by(model.position)))
    unknown = [i for i in wanted if i not in known]
    if unknown:
        message = _unknown_zones if model is Zone else _unknown_strategies
        raise FeedError(
            message(len(unknown)).format(ids=", ".join(unknown), known=", ".join(known))
        )
    return wanted


def _unknown_zones(count: int) -> str:
    return ngettext(
        "unknown zone: {ids}. Known zones: {known}",
        "unknown zones: {ids}. Known zones: {known}",
        count,
    )


def _unknown_strategies(count: int) -> str:
    return ngettext(
        "unknown strategy: {ids}. Known strategies: {known}",
        "unknown strategies: {ids}. Known strategies: {known}",
        count,
    )


async def find_by_url(session: AsyncSession, url: str) -> Feed | None:
    return await session.scalar(select(Feed).where(Feed.url == url))


async def add_feed(session: AsyncSession, spec: FeedSpec, *, now: datetime) -> Feed:
    url = checked_url(spec.url)
    existing = await find_by_url(session, url)
    if existing is not None:
        raise FeedError(
            _("this feed is already registered as #{id}: {url}").format(id=existing.id, url=url)
        )
    feed = Feed(
        url=url,
        title=(spec.title or "").strip()[:MAX_TITLE_LENGTH],
        language=checked_language(spec.language),
        default_strategies=await _checked_ids(session, Strategy, spec.strategies),
        default_zones=await _checked_ids(session, Zone, spec.zones),
        interval_s=checked_interval(spec.interval_s),
        first_poll_backlog=checked_backlog(spec.first_poll_backlog),
        next_poll_at=now + timedelta(seconds=policy.spread_offset(url, FIRST_POLL_SPREAD_S)),
        paused=False,
        consecutive_failures=0,
        created_at=now,
    )
    session.add(feed)
    await session.flush()
    return feed


async def list_feeds(session: AsyncSession) -> list[Feed]:
    return list(await session.scalars(select(Feed).order_by(Feed.id)))


async def get_feed(session: AsyncSession, feed_id: int) -> Feed:
    feed = await session.get(Feed, feed_id)
    if feed is None:
        raise FeedError(_("there is no feed #{id}").format(id=feed_id))
    return feed


async def remove_feed(session: AsyncSession, feed_id: int) -> Feed:
    """Forget a feed and the items seen in it; its notifications stay in the outbox."""
    feed = await get_feed(session, feed_id)
    await session.delete(feed)
    await session.flush()
    return feed


async def pause_feed(
    session: AsyncSession, feed_id: int, *, now: datetime, reason: str = OPERATOR_PAUSE_REASON
) -> Feed:
    feed = await get_feed(session, feed_id)
    if feed.paused:
        raise FeedError(_("feed #{id} is already paused").format(id=feed_id))
    mark_paused(feed, reason, now)
    return feed


def mark_paused(feed: Feed, reason: str, now: datetime) -> None:
    feed.paused = True
    feed.pause_reason = reason[:500]
    feed.paused_at = now


async def resume_feed(session: AsyncSession, feed_id: int, *, now: datetime) -> Feed:
    """Poll again soon, with a clean slate of failures."""
    feed = await get_feed(session, feed_id)
    if not feed.paused:
        raise FeedError(_("feed #{id} is not paused").format(id=feed_id))
    feed.paused = False
    feed.pause_reason = None
    feed.paused_at = None
    feed.consecutive_failures = 0
    feed.next_poll_at = now
    return feed


async def import_opml(
    session: AsyncSession, data: bytes, *, now: datetime, defaults: FeedSpec | None = None
) -> OpmlImport:
    """Add every feed of an OPML document; those already registered or invalid are skipped.

    `defaults` (its url ignored) gives the strategies, zones and interval of the new feeds.
    """
    try:
        listed = parse_opml(data)
    except ValueError as error:
        raise FeedError(
            _("the OPML document cannot be read: {reason}").format(reason=error)
        ) from None
    defaults = defaults or FeedSpec(url="")
    outcome = OpmlImport()
    for item in listed:
        spec = FeedSpec(
            url=item.url,
            title=item.title if item.title != item.url else None,
            language=_language_or_none(item.language),
            strategies=defaults.strategies,
            zones=defaults.zones,
            interval_s=defaults.interval_s,
            first_poll_backlog=defaults.first_poll_backlog,
        )
        try:
            outcome.added.append(await add_feed(session, spec, now=now))
        except FeedError as error:
            outcome.skipped.append((item.url, str(error)))
    return outcome


def _language_or_none(language: str | None) -> str | None:
    """An OPML language attribute when it is a valid code, else nothing (never an error)."""
    try:
        return checked_language(language)
    except FeedError:
        return None


async def export_opml(session: AsyncSession) -> bytes:
    feeds = await list_feeds(session)
    return build_opml(
        (
            OpmlFeed(url=feed.url, title=feed.title or feed.url, language=feed.language)
            for feed in feeds
        ),
        title=OPML_TITLE,
    )
