"""News feeds (RSS/Atom): fetching, parsing, sanitizing. Knows nothing about Telegram.

A plain library for the bot, which owns the database (feed registry, seen items, outbox)
and the translations: everything it needs comes in as arguments, plain dataclasses go out.
It never imports `bot` or `telegram` (import-linter contract).

- `fetch`: `FeedFetcher.fetch(url, etag=…, last_modified=…) -> FetchResult` (httpx; conditional
  GET, size cap, recorded redirects, concurrency limits; never raises for network trouble).
- `parse`: `parse_feed(content, base_url=…, content_type=…) -> ParsedFeed` (feedparser in a
  worker thread; entries oldest first, each with a stable `identity`).
- `identity`: `entry_identity(guid, link, title, published)`.
- `telegram_html`: `sanitize_html`, `telegram_length`, `truncate_html`, `split_html`, `escape`
  (Telegram's HTML subset; lengths in UTF-16 code units).
- `classify`: `ClassificationRules.from_data(rules, places).classify(title, text)`.
- `policy`: polling intervals, back-off, pause, spreading, first-poll backlog.
- `opml`: `parse_opml`, `build_opml`.

A typical poll of one feed, by the bot::

    result = await fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
    if result.permanent_redirect_to: ...        # update the registry's URL
    if result.status is FetchStatus.OK:
        parsed = await parse_feed(result.content, base_url=result.final_url,
                                  content_type=result.content_type)
        for entry in parsed.entries:            # oldest first; skip identities already seen
            body = sanitize_html(entry.content_html or entry.summary_html,
                                 base_url=entry.base_url)
            caption = truncate_html(body, 1024, read_more_url=entry.link, read_more_label=_("…"))
"""
