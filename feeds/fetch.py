"""Fetching feeds over HTTP with httpx: conditional GET, size cap, recorded redirects,
overall and per-host concurrency limits. Network trouble never raises: it comes back as a
`FetchResult` with an error."""

from __future__ import annotations

import asyncio
import enum
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType

import httpx

DEFAULT_USER_AGENT = "psm-bot/0.1 (+https://pianostrategico.cittametropolitana.genova.it)"
MAX_REDIRECTS = 5
_HOST = re.compile(r"[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")  # name, IPv4 or IPv6
PERMANENT_REDIRECTS = frozenset({301, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)


class FetchStatus(enum.Enum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"


class FetchErrorKind(enum.Enum):
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    TOO_LARGE = "too_large"
    INVALID_URL = "invalid_url"
    TOO_MANY_REDIRECTS = "too_many_redirects"


@dataclass(frozen=True)
class FetchError:
    kind: FetchErrorKind
    message: str


@dataclass
class FetchResult:
    url: str
    status: FetchStatus
    content: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    permanent_redirect_to: str | None = None
    redirects: list[tuple[int, str]] = field(default_factory=list)
    http_status: int | None = None
    error: FetchError | None = None
    elapsed_s: float = 0.0
    content_type: str | None = None


class _Failure(Exception):
    """Ends a fetch early with an error; turned into a FetchResult by `fetch`."""

    def __init__(self, kind: FetchErrorKind, message: str, http_status: int | None = None):
        super().__init__(message)
        self.error = FetchError(kind, message)
        self.http_status = http_status


class _TimeBudget:
    """Network time allowed to one fetch, spent across its redirect hops."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.used = 0.0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        remaining = self.seconds - self.used
        if remaining <= 0:
            raise TimeoutError
        started = time.monotonic()
        try:
            async with asyncio.timeout(remaining):
                yield
        finally:
            self.used += time.monotonic() - started


class _HostLimiter:
    """One semaphore per host, dropped when no request for that host is in flight."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self.semaphores: dict[str, asyncio.Semaphore] = {}
        self.users: dict[str, int] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        semaphore = self.semaphores.setdefault(host, asyncio.Semaphore(self.per_host))
        self.users[host] = self.users.get(host, 0) + 1
        try:
            async with semaphore:
                yield
        finally:
            self.users[host] -= 1
            if not self.users[host]:
                del self.users[host]
                del self.semaphores[host]


class FeedFetcher:
    """Fetches feeds; use `async with FeedFetcher() as fetcher`, or call `aclose()`.

    A client passed in is used as is (its own timeouts and limits apply too) and is not
    closed; without one, the fetcher makes and closes its own.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 20.0,
        max_bytes: int = 5_000_000,
        max_concurrency: int = 20,
        per_host_concurrency: int = 2,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_concurrency = max_concurrency
        self.user_agent = user_agent
        self._client = client
        self._owns_client = client is None
        self._overall = asyncio.Semaphore(max_concurrency)
        self._hosts = _HostLimiter(per_host_concurrency)

    async def __aenter__(self) -> FeedFetcher:
        self._http()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(
                max_connections=self.max_concurrency,
                max_keepalive_connections=self.max_concurrency,
            )
            self._client = httpx.AsyncClient(limits=limits, timeout=self.timeout)
        return self._client

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET `url` (conditionally when `etag`/`last_modified` are given).

        `timeout` bounds the time spent on the network for the whole fetch, redirects
        included; waiting for a free slot (overall or per host) does not count.
        `permanent_redirect_to` is set only for a fetch that succeeded (OK or NOT_MODIFIED).
        """
        result = FetchResult(url=url, status=FetchStatus.ERROR)
        budget = _TimeBudget(self.timeout)
        try:
            await self._follow(result, etag, last_modified, budget)
        except _Failure as failure:
            _fail(result, failure.error, failure.http_status)
        except (TimeoutError, httpx.TimeoutException):
            message = f"no complete answer within {self.timeout:g} s"
            _fail(result, FetchError(FetchErrorKind.TIMEOUT, message))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            _fail(result, FetchError(FetchErrorKind.INVALID_URL, str(error) or repr(error)))
        except (httpx.HTTPError, OSError) as error:
            message = f"{type(error).__name__}: {error}".rstrip(": ")
            _fail(result, FetchError(FetchErrorKind.CONNECTION, message))
        result.elapsed_s = budget.used
        if result.status is not FetchStatus.OK:
            result.content = None
        if result.status is FetchStatus.ERROR:
            result.permanent_redirect_to = None
        return result

    async def _follow(
        self,
        result: FetchResult,
        etag: str | None,
        last_modified: str | None,
        budget: _TimeBudget,
    ) -> None:
        headers = self._request_headers(etag, last_modified)
        current = _checked_url(result.url)
        visited = {str(current)}
        permanent_chain = True
        while True:
            result.final_url = str(current)
            if await self._request(current, headers, result, budget):
                break
            target = _redirect_target(current, result)
            permanent_chain = permanent_chain and result.redirects[-1][0] in PERMANENT_REDIRECTS
            if permanent_chain:
                result.permanent_redirect_to = str(target)
            _check_redirect_count(result, str(target), visited)
            visited.add(str(target))
            current = target
        if result.status is FetchStatus.NOT_MODIFIED:
            result.etag = result.etag or etag
            result.last_modified = result.last_modified or last_modified

    def _request_headers(self, etag: str | None, last_modified: str | None) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent, "Accept": ACCEPT}
        if etag and _is_header_safe(etag):
            headers["If-None-Match"] = etag
        if last_modified and _is_header_safe(last_modified):
            headers["If-Modified-Since"] = last_modified
        return headers

    async def _request(
        self, url: httpx.URL, headers: dict[str, str], result: FetchResult, budget: _TimeBudget
    ) -> bool:
        """One hop; True when the fetch is over, False when a redirect must be followed.

        The host's slot is taken before an overall one, so requests queued for a busy host
        do not hold overall slots that requests to other hosts could use.
        """
        client = self._http()
        request = client.build_request("GET", url, headers=headers, timeout=self.timeout)
        async with self._hosts.slot(url.host), self._overall, budget.running():
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                return await self._handle(response, result)
            finally:
                await response.aclose()

    async def _handle(self, response: httpx.Response, result: FetchResult) -> bool:
        status = response.status_code
        result.http_status = status
        if status == 304:
            result.status = FetchStatus.NOT_MODIFIED
            _copy_validators(response, result)
            return True
        if 300 <= status < 400:
            location = response.headers.get("Location")
            if not location:
                raise _Failure(
                    FetchErrorKind.INVALID_URL, f"HTTP {status} without a Location", status
                )
            result.redirects.append((status, location))
            return False
        if status >= 400:
            kind = FetchErrorKind.HTTP_5XX if status >= 500 else FetchErrorKind.HTTP_4XX
            raise _Failure(kind, f"HTTP {status} {response.reason_phrase}".strip(), status)
        result.content = await self._read_capped(response)
        result.status = FetchStatus.OK
        result.content_type = response.headers.get("Content-Type")
        _copy_validators(response, result)
        return True

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise _Failure(
                FetchErrorKind.TOO_LARGE,
                f"Content-Length {declared} exceeds {self.max_bytes} bytes",
                response.status_code,
            )
        body = bytearray()
        async for chunk in response.aiter_bytes():  # decoded: a gzip bomb is caught too
            body += chunk
            if len(body) > self.max_bytes:
                raise _Failure(
                    FetchErrorKind.TOO_LARGE,
                    f"body exceeds {self.max_bytes} bytes",
                    response.status_code,
                )
        return bytes(body)


def _fail(result: FetchResult, error: FetchError, http_status: int | None = None) -> None:
    result.status = FetchStatus.ERROR
    result.error = error
    if http_status is not None:
        result.http_status = http_status


def _checked_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise _Failure(FetchErrorKind.INVALID_URL, f"invalid URL {str(url)!r}: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise _Failure(FetchErrorKind.INVALID_URL, f"only http and https URLs, not {str(url)!r}")
    if not _HOST.fullmatch(parsed.raw_host.decode("ascii", "replace")):
        raise _Failure(FetchErrorKind.INVALID_URL, f"URL without a valid host: {str(url)!r}")
    return parsed


def _redirect_target(current: httpx.URL, result: FetchResult) -> httpx.URL:
    status, location = result.redirects[-1]
    try:
        target = current.join(location)
    except (httpx.InvalidURL, ValueError) as error:
        raise _Failure(
            FetchErrorKind.INVALID_URL, f"bad redirect to {location!r}: {error}", status
        ) from None
    checked = _checked_url(target)
    result.redirects[-1] = (status, str(checked))
    return checked


def _check_redirect_count(result: FetchResult, target: str, visited: set[str]) -> None:
    if target in visited:
        result.permanent_redirect_to = None
        raise _Failure(FetchErrorKind.TOO_MANY_REDIRECTS, f"redirect loop back to {target}")
    if len(result.redirects) > MAX_REDIRECTS:
        result.permanent_redirect_to = None
        raise _Failure(FetchErrorKind.TOO_MANY_REDIRECTS, f"more than {MAX_REDIRECTS} redirects")


def _copy_validators(response: httpx.Response, result: FetchResult) -> None:
    result.etag = response.headers.get("ETag") or None
    result.last_modified = response.headers.get("Last-Modified") or None


def _is_header_safe(value: str) -> bool:
    return value.isascii() and "\r" not in value and "\n" not in value
