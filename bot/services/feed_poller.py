"""Polling feeds: fetch, parse, and turn the new items into notifications in the outbox.

A poll writes everything it learned in one transaction per feed — the new notifications,
the items recorded as seen, the feed's state — so a crash never half-records it; nothing
is held open while the network is used. Items are handled oldest first. The first
successful poll of a new feed only records what is already there (except the newest
`first_poll_backlog` items), so adding a feed never floods its followers.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import Feed, NotificationKind, SeenFeedItem, utcnow
from bot.services import outbox
from bot.services.feed_registry import MAX_TITLE_LENGTH, mark_paused
from bot.services.feed_rules import DEFAULT_RULES_FILE, FeedClassifier, load_classifier
from bot.services.outbox import NewNotification
from feeds import policy
from feeds.fetch import FeedFetcher, FetchResult, FetchStatus
from feeds.parse import FeedEntry, ParsedFeed, parse_feed
from feeds.telegram_html import sanitize_html, truncate_html, visible_text

log = logging.getLogger(__name__)

NEWS_TEMPLATE = "news"
MAX_SOURCE_KEY_LENGTH = 255
MAX_ERROR_LENGTH = 500
# The renderer cuts the body again to fit a message; this only bounds what is stored.
PAYLOAD_HTML_LIMIT = 3500
# An item without a title is headed by the start of its text, this long at most.
HEADLINE_LIMIT = 80
# Each feed waits up to this fraction of its interval more than the interval, always the
# same for one feed, so feeds polled together drift apart instead of polling in lockstep.
SPREAD_FRACTION = 0.1
_SEEN_LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class PollerConfig:
    # Feeds fetched or being processed at once (the fetcher adds its own per-host limit).
    max_in_progress: int = 8
    # Due feeds taken in one round; the rest wait for the next round.
    due_batch: int = 100
    pause_after: int = policy.DEFAULT_PAUSE_AFTER
    max_backoff_s: float = policy.DEFAULT_MAX_BACKOFF_S
    html_limit: int = PAYLOAD_HTML_LIMIT
    rules_file: Path = DEFAULT_RULES_FILE


class PollStatus(enum.StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"
    # Removed or paused while it was being fetched: nothing recorded.
    SKIPPED = "skipped"


@dataclass
class FeedPollResult:
    feed_id: int
    url: str
    title: str
    status: PollStatus
    notification_ids: list[int] = field(default_factory=list)
    # Items recorded as seen without a notification (the backlog of a first poll).
    recorded_silently: int = 0
    error: str | None = None
    consecutive_failures: int = 0
    # True when this poll paused the feed after too many failures in a row.
    paused: bool = False
    pause_reason: str | None = None
    moved_to: str | None = None

    @property
    def name(self) -> str:
        return self.title or self.url


@dataclass
class PollReport:
    results: list[FeedPollResult] = field(default_factory=list)

    @property
    def notification_ids(self) -> list[int]:
        return [nid for result in self.results for nid in result.notification_ids]

    @property
    def paused(self) -> list[FeedPollResult]:
        return [result for result in self.results if result.paused]


@dataclass(frozen=True)
class _Snapshot:
    """What a fetch needs of a feed, read before the network is used."""

    id: int
    url: str
    title: str
    etag: str | None
    last_modified: str | None


def source_key(feed_id: int, identity: str) -> str:
    """The outbox key of an item: one notification per item of a feed, ever."""
    key = f"feed:{feed_id}:{identity}"
    if len(key) <= MAX_SOURCE_KEY_LENGTH:
        return key
    return f"feed:{feed_id}:sha256:{hashlib.sha256(identity.encode('utf-8')).hexdigest()}"


def next_poll_at(feed: Feed, now: datetime, failures: int, config: PollerConfig) -> datetime:
    delay = policy.next_poll_delay(feed.interval_s, failures, max_backoff_s=config.max_backoff_s)
    offset = policy.spread_offset(f"feed:{feed.id}", feed.interval_s * SPREAD_FRACTION)
    return now + timedelta(seconds=delay + offset)


class FeedPoller:
    """Polls the registry's feeds. Without a `fetcher`, each call makes and closes its own,
    so the fetcher's overall and per-host limits hold across the feeds of one call."""

    def __init__(
        self,
        db: Database,
        *,
        fetcher: FeedFetcher | None = None,
        config: PollerConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.fetcher = fetcher
        self.config = config or PollerConfig()
        self.clock = clock
        self._classifier: FeedClassifier | None = None

    async def poll_due_feeds(self) -> PollReport:
        """Poll the active feeds whose next poll time has come."""
        async with self.db.transaction() as session:
            ids = await due_feed_ids(session, self.clock(), self.config.due_batch)
        return await self.poll_feeds(ids)

    async def poll_feeds(self, feed_ids: Sequence[int]) -> PollReport:
        in_progress = asyncio.Semaphore(self.config.max_in_progress)

        async def poll(fetcher: FeedFetcher, feed_id: int) -> FeedPollResult | None:
            async with in_progress:
                return await self._poll_guarded(fetcher, feed_id)

        async with self._fetching() as fetcher:
            results = await asyncio.gather(*(poll(fetcher, i) for i in feed_ids))
        return PollReport([result for result in results if result is not None])

    async def poll_feed(self, feed_id: int) -> FeedPollResult | None:
        """Poll one feed now, due or not; None when it does not exist or is paused."""
        async with self._fetching() as fetcher:
            return await self._poll_guarded(fetcher, feed_id)

    def reload_rules(self) -> None:
        """Read the rules file and the comuni again at the next poll."""
        self._classifier = None

    @asynccontextmanager
    async def _fetching(self) -> AsyncIterator[FeedFetcher]:
        if self.fetcher is not None:
            yield self.fetcher
            return
        async with FeedFetcher() as fetcher:
            yield fetcher

    async def _poll_guarded(self, fetcher: FeedFetcher, feed_id: int) -> FeedPollResult | None:
        """One feed's trouble (even a bug) must not stop the others."""
        snapshot = await self._snapshot(feed_id)
        if snapshot is None:
            return None
        try:
            return await self._poll(fetcher, snapshot)
        except Exception as error:
            log.exception("polling feed #%s (%s) failed", snapshot.id, snapshot.url)
            return await self._record_failure(snapshot, f"internal error: {error!r}")

    async def _snapshot(self, feed_id: int) -> _Snapshot | None:
        async with self.db.transaction() as session:
            feed = await session.get(Feed, feed_id)
            if feed is None or feed.paused:
                return None
            return _Snapshot(feed.id, feed.url, feed.title, feed.etag, feed.last_modified)

    async def _poll(self, fetcher: FeedFetcher, snapshot: _Snapshot) -> FeedPollResult:
        fetched = await fetcher.fetch(
            snapshot.url, etag=snapshot.etag, last_modified=snapshot.last_modified
        )
        if fetched.status is FetchStatus.ERROR:
            message = fetched.error.message if fetched.error else "fetch failed"
            return await self._record_failure(snapshot, message)
        parsed = None
        if fetched.status is FetchStatus.OK:
            if fetched.content is None:
                raise RuntimeError("the fetch succeeded without content")
            parsed = await parse_feed(
                fetched.content,
                base_url=fetched.final_url or snapshot.url,
                content_type=fetched.content_type,
                legacy_base_urls=(snapshot.url,),
            )
            if not parsed.usable:
                return await self._record_failure(
                    snapshot, f"not a usable feed: {parsed.bozo_reason}"
                )
        return await self._record_success(snapshot, fetched, parsed)

    async def _record_success(
        self, snapshot: _Snapshot, fetched: FetchResult, parsed: ParsedFeed | None
    ) -> FeedPollResult:
        now = self.clock()
        async with self.db.transaction() as session:
            feed = await _locked_feed(session, snapshot.id, now)
            if feed is None:
                return _skipped(snapshot)
            status = PollStatus.OK if parsed is not None else PollStatus.NOT_MODIFIED
            result = _result(feed, status)
            if fetched.permanent_redirect_to:
                await _move(session, feed, fetched.permanent_redirect_to, result)
            if parsed is not None:
                if not feed.title and parsed.title:
                    feed.title = parsed.title[:MAX_TITLE_LENGTH]
                await self._take_entries(session, feed, parsed.entries, now, result)
            self._mark_healthy(feed, fetched, status, now)
            result.title = feed.title
            result.consecutive_failures = 0
        return result

    def _mark_healthy(
        self, feed: Feed, fetched: FetchResult, status: PollStatus, now: datetime
    ) -> None:
        feed.etag = fetched.etag
        feed.last_modified = fetched.last_modified
        feed.last_status = status.value
        feed.last_error = None
        feed.consecutive_failures = 0
        feed.next_poll_at = next_poll_at(feed, now, 0, self.config)

    async def _record_failure(self, snapshot: _Snapshot, message: str) -> FeedPollResult:
        now = self.clock()
        message = message[:MAX_ERROR_LENGTH]
        async with self.db.transaction() as session:
            feed = await _locked_feed(session, snapshot.id, now)
            if feed is None:
                return _skipped(snapshot)
            feed.consecutive_failures += 1
            feed.last_status = PollStatus.ERROR.value
            feed.last_error = message
            feed.next_poll_at = next_poll_at(feed, now, feed.consecutive_failures, self.config)
            result = _result(feed, PollStatus.ERROR)
            result.error = message
            if policy.should_pause(feed.consecutive_failures, pause_after=self.config.pause_after):
                reason = f"{feed.consecutive_failures} failed polls in a row; last error: {message}"
                mark_paused(feed, reason, now)
                result.paused = True
                result.pause_reason = feed.pause_reason
                log.warning("feed #%s (%s) paused: %s", feed.id, feed.url, reason)
        return result

    async def _take_entries(
        self,
        session: AsyncSession,
        feed: Feed,
        entries: Sequence[FeedEntry],
        now: datetime,
        result: FeedPollResult,
    ) -> None:
        """Record the unseen entries (oldest first), each with its notification if due."""
        unique: dict[str, FeedEntry] = {}
        for entry in entries:
            unique.setdefault(entry.identity, entry)
        new = await _unseen(session, feed.id, list(unique.values()), now)
        to_notify = new
        if feed.first_polled_at is None:
            to_notify = policy.first_poll_selection(new, backlog=feed.first_poll_backlog)
            feed.first_polled_at = now
        notify = {entry.identity for entry in to_notify}
        for entry in new:
            notification_id = None
            if entry.identity in notify:
                notification_id = await self._notify(session, feed, entry, result)
            else:
                result.recorded_silently += 1
            session.add(
                SeenFeedItem(
                    feed_id=feed.id,
                    identity=entry.identity,
                    first_seen_at=now,
                    notification_id=notification_id,
                )
            )
        await session.flush()

    async def _notify(
        self, session: AsyncSession, feed: Feed, entry: FeedEntry, result: FeedPollResult
    ) -> int:
        classifier = await self._classifier_for(session)
        new = news_notification(feed, entry, classifier, html_limit=self.config.html_limit)
        notification, created = await outbox.enqueue(session, new)
        if created:
            result.notification_ids.append(notification.id)
        return notification.id

    async def _classifier_for(self, session: AsyncSession) -> FeedClassifier:
        if self._classifier is None:
            self._classifier = await load_classifier(session, self.config.rules_file)
        return self._classifier


def news_notification(
    feed: Feed, entry: FeedEntry, classifier: FeedClassifier, *, html_limit: int
) -> NewNotification:
    """The outbox entry for one feed item: sanitized body, tags from the feed and the rules."""
    source_html = entry.summary_html.strip() or entry.content_html
    body = sanitize_html(source_html, base_url=entry.base_url)
    if body:
        body = truncate_html(body, html_limit)
    text = "\n".join([visible_text(body), *entry.categories])
    tags = classifier.tags(
        entry.title,
        text,
        default_strategies=feed.default_strategies or (),
        default_zones=feed.default_zones or (),
    )
    return NewNotification(
        kind=NotificationKind.NEWS,
        source_key=source_key(feed.id, entry.identity),
        template=NEWS_TEMPLATE,
        payload=_payload(feed, entry, body),
        tags=tags,
    )


def headline(body: str, limit: int = HEADLINE_LIMIT) -> str:
    """The start of a text (Telegram HTML) as a title: its first line, cut at a word."""
    lines = (line.strip() for line in visible_text(body).splitlines())
    first_line = next((line for line in lines if line), "")
    if len(first_line) <= limit:
        return first_line
    cut = first_line.rfind(" ", limit // 2, limit)
    return first_line[: cut if cut > 0 else limit - 1].rstrip(" ,;:.-–—") + "…"


def _payload(feed: Feed, entry: FeedEntry, body: str) -> dict:
    """Never without a title: an untitled item is named by the start of its text (all of
    it when it is that short: then it is not repeated below), else by its feed."""
    source = feed.title or urlsplit(feed.url).hostname
    title = entry.title or headline(body)
    if not entry.title and title == visible_text(body).strip():
        body = ""
    published = entry.published or entry.updated
    payload = {
        "title": title or source,
        "html": body,
        "link": entry.link,
        "source": source,
        "published": published.isoformat() if published else None,
        "image_url": entry.image_url,
    }
    return {key: value for key, value in payload.items() if value}


async def due_feed_ids(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    query = (
        select(Feed.id)
        .where(Feed.paused.is_(False), Feed.next_poll_at <= now)
        .order_by(Feed.next_poll_at, Feed.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def active_feed_ids(session: AsyncSession) -> list[int]:
    return list(
        await session.scalars(select(Feed.id).where(Feed.paused.is_(False)).order_by(Feed.id))
    )


async def _locked_feed(session: AsyncSession, feed_id: int, now: datetime) -> Feed | None:
    """The feed, locked for this transaction; None when it is gone or paused meanwhile.

    Writing first takes the row lock on PostgreSQL and the write lock on SQLite, so two
    polls of one feed (the bot's and an operator's) run one after the other.
    """
    await session.execute(update(Feed).where(Feed.id == feed_id).values(last_polled_at=now))
    feed = await session.get(Feed, feed_id, populate_existing=True)
    if feed is None or feed.paused:
        return None
    return feed


async def _unseen(
    session: AsyncSession, feed_id: int, entries: Sequence[FeedEntry], now: datetime
) -> list[FeedEntry]:
    """The entries not seen yet. One seen under a legacy identity (stored by an earlier
    version, resolved against the feed's URL then) is seen: it is remembered under its
    identity too, so it stays seen after the feed moves."""
    identities = {entry.identity for entry in entries}
    legacy = {alias for entry in entries for alias in entry.legacy_identities} - identities
    seen = await _seen_items(session, feed_id, [*identities, *legacy])
    unseen = []
    for entry in entries:
        if entry.identity in seen:
            continue
        former = next((seen[alias] for alias in entry.legacy_identities if alias in seen), None)
        if former is None:
            unseen.append(entry)
            continue
        session.add(
            SeenFeedItem(
                feed_id=feed_id,
                identity=entry.identity,
                first_seen_at=former.first_seen_at or now,
                notification_id=former.notification_id,
            )
        )
    return unseen


async def _seen_items(
    session: AsyncSession, feed_id: int, identities: Iterable[str]
) -> dict[str, SeenFeedItem]:
    identities = list(identities)
    seen: dict[str, SeenFeedItem] = {}
    for start in range(0, len(identities), _SEEN_LOOKUP_CHUNK):
        chunk = identities[start : start + _SEEN_LOOKUP_CHUNK]
        rows = await session.scalars(
            select(SeenFeedItem).where(
                SeenFeedItem.feed_id == feed_id, SeenFeedItem.identity.in_(chunk)
            )
        )
        seen.update((row.identity, row) for row in rows)
    return seen


async def _move(session: AsyncSession, feed: Feed, target: str, result: FeedPollResult) -> None:
    """Follow a permanent redirect in the registry, unless another feed has that URL."""
    if target == feed.url:
        return
    clash = await session.scalar(select(Feed.id).where(Feed.url == target, Feed.id != feed.id))
    if clash is not None:
        log.warning("feed #%s moved to %s, already registered as #%s", feed.id, target, clash)
        return
    log.info("feed #%s moved permanently: %s → %s", feed.id, feed.url, target)
    feed.url = target
    result.moved_to = target
    result.url = target


def _result(feed: Feed, status: PollStatus) -> FeedPollResult:
    return FeedPollResult(
        feed_id=feed.id,
        url=feed.url,
        title=feed.title,
        status=status,
        consecutive_failures=feed.consecutive_failures,
    )


def _skipped(snapshot: _Snapshot) -> FeedPollResult:
    return FeedPollResult(snapshot.id, snapshot.url, snapshot.title, PollStatus.SKIPPED)
