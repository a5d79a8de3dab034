"""The fetcher against a local server: conditional GET, errors, redirects, limits."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from feeds_testdata import ETAG, LAST_MODIFIED, read_data

from feeds.fetch import DEFAULT_USER_AGENT, FeedFetcher, FetchErrorKind, FetchStatus
from feeds.parse import parse_feed


@pytest.fixture
async def fetcher():
    async with FeedFetcher(timeout=2.0, max_bytes=100_000) as fetcher:
        yield fetcher


async def test_ok_then_not_modified_with_etag(fetcher, feed_server):
    url = feed_server.url("/conditional")
    first = await fetcher.fetch(url)
    assert first.status is FetchStatus.OK and first.error is None
    assert first.content == read_data("rss2_guid.xml")
    assert (first.etag, first.last_modified) == (ETAG, LAST_MODIFIED)
    assert first.http_status == 200 and first.final_url == url
    assert first.content_type == "application/rss+xml"
    assert first.elapsed_s > 0

    second = await fetcher.fetch(url, etag=first.etag)
    assert second.status is FetchStatus.NOT_MODIFIED
    assert second.content is None and second.http_status == 304
    assert second.etag == ETAG
    assert feed_server.requests[-1].headers["If-None-Match"] == ETAG


async def test_not_modified_with_last_modified_only(fetcher, feed_server):
    result = await fetcher.fetch(feed_server.url("/conditional"), last_modified=LAST_MODIFIED)
    assert result.status is FetchStatus.NOT_MODIFIED
    assert result.last_modified == LAST_MODIFIED
    assert "If-None-Match" not in feed_server.requests[-1].headers


async def test_sends_user_agent_and_accept(fetcher, feed_server):
    result = await fetcher.fetch(feed_server.url("/headers"))
    headers = httpx.Response(200, content=result.content).json()
    assert headers["User-Agent"] == DEFAULT_USER_AGENT
    assert "application/rss+xml" in headers["Accept"]


@pytest.mark.parametrize(
    ("code", "kind"),
    [(404, FetchErrorKind.HTTP_4XX), (410, FetchErrorKind.HTTP_4XX), (500, FetchErrorKind.HTTP_5XX),
     (503, FetchErrorKind.HTTP_5XX)],
)  # fmt: skip
async def test_http_errors(fetcher, feed_server, code, kind):
    result = await fetcher.fetch(feed_server.url(f"/status/{code}"))
    assert result.status is FetchStatus.ERROR
    assert result.error.kind is kind and str(code) in result.error.message
    assert result.http_status == code and result.content is None


async def test_slow_response_times_out(feed_server):
    async with FeedFetcher(timeout=0.3) as fetcher:
        started = time.monotonic()
        result = await fetcher.fetch(feed_server.url("/slow?delay=3"))
    assert result.error.kind is FetchErrorKind.TIMEOUT
    assert time.monotonic() - started < 1.5


async def test_a_body_dripping_in_times_out_as_a_whole(feed_server):
    async with FeedFetcher(timeout=0.5) as fetcher:
        started = time.monotonic()
        result = await fetcher.fetch(feed_server.url("/drip"))
    assert result.error.kind is FetchErrorKind.TIMEOUT
    assert time.monotonic() - started < 2


async def test_connection_refused(fetcher, feed_server):
    refused = feed_server.base_url.rsplit(":", 1)[0] + ":1/feed"
    result = await fetcher.fetch(refused)
    assert result.error.kind is FetchErrorKind.CONNECTION


@pytest.mark.parametrize(
    "url", ["ftp://example.org/feed", "file:///etc/passwd", "javascript:alert(1)", "non un url",
            "http://", "", "https://exa mple.org/"],
)  # fmt: skip
async def test_invalid_urls_are_refused_without_a_request(fetcher, url):
    result = await fetcher.fetch(url)
    assert result.status is FetchStatus.ERROR
    assert result.error.kind is FetchErrorKind.INVALID_URL


async def test_permanent_redirect_chain_is_recorded(fetcher, feed_server):
    result = await fetcher.fetch(feed_server.url("/redirect/301/3"))
    assert result.status is FetchStatus.OK
    assert result.redirects == [
        (301, feed_server.url("/redirect/301/2")),
        (301, feed_server.url("/redirect/301/1")),
        (301, feed_server.url("/data/rss2_guid.xml")),
    ]
    assert result.final_url == feed_server.url("/data/rss2_guid.xml")
    assert result.permanent_redirect_to == feed_server.url("/data/rss2_guid.xml")


async def test_308_is_permanent_too(fetcher, feed_server):
    result = await fetcher.fetch(feed_server.url("/redirect/308/1"))
    assert result.permanent_redirect_to == feed_server.url("/data/rss2_guid.xml")


@pytest.mark.parametrize("code", [302, 303, 307])
async def test_temporary_redirects_do_not_move_the_feed(fetcher, feed_server, code):
    result = await fetcher.fetch(feed_server.url(f"/redirect/{code}/2"))
    assert result.status is FetchStatus.OK
    assert [status for status, _ in result.redirects] == [code, code]
    assert result.permanent_redirect_to is None


async def test_a_temporary_hop_first_means_no_permanent_move(fetcher, feed_server):
    result = await fetcher.fetch(feed_server.url("/mixed"))
    assert [status for status, _ in result.redirects] == [302, 301]
    assert result.permanent_redirect_to is None


async def test_permanent_move_stops_at_the_first_temporary_hop(fetcher, feed_server):
    result = await fetcher.fetch(feed_server.url("/permanent-then-temporary"))
    assert [status for status, _ in result.redirects] == [301, 302]
    assert result.permanent_redirect_to == feed_server.url("/redirect/302/1")


async def test_five_redirects_are_followed_six_are_too_many(fetcher, feed_server):
    assert (await fetcher.fetch(feed_server.url("/redirect/302/5"))).status is FetchStatus.OK
    result = await fetcher.fetch(feed_server.url("/redirect/301/6"))
    assert result.error.kind is FetchErrorKind.TOO_MANY_REDIRECTS
    assert result.permanent_redirect_to is None
    assert len(feed_server.requests) == 6 + 6  # the second fetch stopped before hop 7


async def test_redirect_loop(fetcher, feed_server):
    result = await fetcher.fetch(feed_server.url("/loop/a"))
    assert result.error.kind is FetchErrorKind.TOO_MANY_REDIRECTS
    assert "loop" in result.error.message


@pytest.mark.parametrize("scheme", ["ftp", "javascript", "file"])
async def test_redirect_to_another_scheme_is_refused(fetcher, feed_server, scheme):
    result = await fetcher.fetch(feed_server.url(f"/redirect-to/{scheme}"))
    assert result.error.kind is FetchErrorKind.INVALID_URL


async def test_redirect_without_location(fetcher, feed_server):
    result = await fetcher.fetch(feed_server.url("/no-location"))
    assert result.error.kind is FetchErrorKind.INVALID_URL and result.http_status == 302


@pytest.mark.parametrize("path", ["/big/declared", "/big/chunked", "/big/gzip"])
async def test_oversize_bodies_are_cut_off(fetcher, feed_server, path):
    result = await fetcher.fetch(feed_server.url(path))
    assert result.status is FetchStatus.ERROR
    assert result.error.kind is FetchErrorKind.TOO_LARGE
    assert result.content is None


async def test_declared_oversize_is_refused_before_reading(fetcher, feed_server):
    result = await fetcher.fetch(feed_server.url("/big/declared"))
    assert "Content-Length" in result.error.message


async def test_per_host_concurrency_is_limited(feed_server):
    async with FeedFetcher(per_host_concurrency=2, max_concurrency=20) as fetcher:
        results = await asyncio.gather(
            *(fetcher.fetch(feed_server.url(f"/concurrent/{n}")) for n in range(8))
        )
    assert all(result.status is FetchStatus.OK for result in results)
    assert feed_server.max_in_flight == 2


async def test_overall_concurrency_is_limited(feed_server):
    async with FeedFetcher(per_host_concurrency=10, max_concurrency=3) as fetcher:
        await asyncio.gather(
            *(fetcher.fetch(feed_server.url(f"/concurrent/{n}")) for n in range(9))
        )
    assert feed_server.max_in_flight == 3


async def test_a_busy_host_does_not_hold_back_other_hosts(feed_server):
    """Requests queued for one host do not take the overall slots another host could use.
    `localhost` is the second host: the same server on 127.0.0.1 under another name."""
    other_host = feed_server.base_url.replace("127.0.0.1", "localhost")
    async with FeedFetcher(per_host_concurrency=1, max_concurrency=2) as fetcher:
        if (await fetcher.fetch(f"{other_host}/data/atom.xml")).status is not FetchStatus.OK:
            pytest.skip("localhost does not reach 127.0.0.1 here")
        started = time.monotonic()

        async def timed(url: str) -> float:
            await fetcher.fetch(url)
            return time.monotonic() - started

        busy = [asyncio.create_task(timed(feed_server.url(f"/concurrent/{n}"))) for n in range(4)]
        await asyncio.sleep(0.01)
        other = await timed(f"{other_host}/concurrent/x")
        busy_times = await asyncio.gather(*busy)
    assert other < 0.2 < max(busy_times)


async def test_waiting_for_a_slot_does_not_count_against_the_timeout(feed_server):
    async with FeedFetcher(per_host_concurrency=1, timeout=0.35) as fetcher:
        results = await asyncio.gather(
            *(fetcher.fetch(feed_server.url(f"/concurrent/{n}")) for n in range(6))
        )
    assert [result.status for result in results] == [FetchStatus.OK] * 6


async def test_a_client_passed_in_is_used_and_left_open(feed_server):
    async with httpx.AsyncClient() as client:
        async with FeedFetcher(client) as fetcher:
            result = await fetcher.fetch(feed_server.url("/data/atom.xml"))
        assert result.status is FetchStatus.OK
        assert not client.is_closed


async def test_identities_survive_a_redirected_feed_url(fetcher, feed_server):
    """Same feed read directly and through a permanent redirect: same identities, even
    for items whose link is relative (kept as written; earlier versions resolved it against
    the final URL, and that identity is still known as a legacy one)."""
    direct = await fetcher.fetch(feed_server.url("/data/rss2_no_guid.xml"))
    moved = await fetcher.fetch(feed_server.url("/moved/rss2_no_guid.xml"))
    assert moved.permanent_redirect_to == direct.final_url
    identities = []
    for result in (direct, moved):
        feed = await parse_feed(
            result.content, base_url=result.final_url, content_type=result.content_type
        )
        identities.append([(entry.identity, entry.legacy_identities) for entry in feed.entries])
    assert identities[0] == identities[1]
    relative = ("link:/avvisi/chiusura-anagrafe?id=77",)
    legacy = (feed_server.url("/avvisi/chiusura-anagrafe?id=77").replace("http", "link:http"),)
    assert (relative[0], legacy) in identities[0]


async def test_fetch_and_parse_every_fixture(fetcher, feed_server):
    expectations = {
        "rss2_guid.xml": 3, "rss2_guid_not_permalink.xml": 2, "rss2_no_guid.xml": 3,
        "atom.xml": 2, "rss1_rdf.xml": 2, "iso8859_1.xml": 1, "wrong_encoding.xml": 1,
        "malformed_bozo.xml": 2, "not_a_feed.html": 0,
    }  # fmt: skip
    for name, count in expectations.items():
        result = await fetcher.fetch(feed_server.url(f"/data/{name}"))
        feed = await parse_feed(
            result.content, base_url=result.final_url, content_type=result.content_type
        )
        assert len(feed.entries) == count, name
        assert feed.usable is (count > 0), name
