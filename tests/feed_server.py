"""A local feed server for the bot's feed tests: aiohttp on 127.0.0.1, never the network.

Each path serves what the test put there (`serve`, `redirect`, `fail`), with ETag support,
and the server records every request.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from aiohttp import web

SITE = "https://www.cittametropolitana.genova.it/it/news"
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    description: str = "<p>Il percorso del piano continua.</p>"
    link: str | None = None
    published: datetime | None = None
    image_url: str | None = None


def item(n: int, title: str | None = None, **fields) -> Item:
    """Item n, published n hours after a fixed start (so a higher n is newer); a title of
    "" makes an item without a title."""
    published = datetime(2026, 3, 1, 9, 0, tzinfo=UTC) + timedelta(hours=n)
    fields.setdefault("link", f"{SITE}/{n}")
    return Item(
        guid=f"{SITE}/{n}",
        title=f"Notizia {n}" if title is None else title,
        published=published,
        **fields,
    )


def rss(items: Sequence[Item], *, title: str = "Notizie dal Piano Strategico") -> bytes:
    entries = "".join(_rss_item(entry) for entry in items)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{SITE}</link><language>it</language>"
        f"{entries}</channel></rss>"
    ).encode()


def _rss_item(entry: Item) -> str:
    parts = [f"<guid>{escape(entry.guid)}</guid>"]
    if entry.title:
        parts.append(f"<title>{escape(entry.title)}</title>")
    if entry.link:
        parts.append(f"<link>{escape(entry.link)}</link>")
    if entry.published:
        parts.append(f"<pubDate>{format_datetime(entry.published)}</pubDate>")
    if entry.image_url:
        parts.append(f'<enclosure url="{escape(entry.image_url)}" type="image/jpeg" length="1"/>')
    parts.append(f"<description>{escape(entry.description)}</description>")
    return "<item>" + "".join(parts) + "</item>"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    location: str | None = None
    delay_s: float = 0.0
    content_type: str = "application/rss+xml; charset=utf-8"
    # Instead of `body`: chunks written one by one (a long stream, a trickle, a gzip bomb).
    chunks: Callable[[], Iterator[bytes]] | None = None
    chunk_delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FeedServer:
    base_url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    sent: dict[str, int] = field(default_factory=dict)  # body bytes written, per streamed path

    def url(self, path: str) -> str:
        return self.base_url + path

    def serve(self, path: str, items: Sequence[Item] = (), *, etag: str | None = None, **kw) -> str:
        body = kw.pop("body", None)
        title = kw.pop("title", "Notizie dal Piano Strategico")
        self.routes[path] = Route(
            body=body if body is not None else rss(items, title=title), etag=etag, **kw
        )
        return self.url(path)

    def stream(self, path: str, size: int, *, chunk: int = 1 << 16) -> str:
        """A body of `size` bytes written in chunks, without a Content-Length."""
        return self._streamed(path, lambda: _filled(size, chunk))

    def trickle(self, path: str, every_s: float) -> str:
        """A body that never ends: one byte every `every_s` seconds."""
        return self._streamed(path, lambda: iter(lambda: b"B", None), chunk_delay_s=every_s)

    def gzip_bomb(self, path: str, unpacked: int) -> str:
        """`unpacked` bytes of zeros sent gzip-compressed (about a thousandth of that)."""
        return self._streamed(
            path, lambda: _gzipped(_filled(unpacked, 1 << 20)), headers={"Content-Encoding": "gzip"}
        )

    def _streamed(self, path: str, chunks, **kw) -> str:
        self.routes[path] = Route(chunks=chunks, content_type="text/calendar", **kw)
        self.sent[path] = 0
        return self.url(path)

    def redirect(self, path: str, to_path: str, status: int = 301) -> None:
        self.routes[path] = Route(status=status, location=to_path)

    def fail(self, path: str, status: int) -> str:
        self.routes[path] = Route(status=status, body=b"errore")
        return self.url(path)

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [headers for requested, headers in self.requests if requested == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers)))
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="non trovato")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(route.delay_s)
            if route.chunks is not None:
                return await self._stream(request, route)
            return self._answer(request, route)
        finally:
            self.in_flight -= 1

    async def _stream(self, request: web.Request, route: Route) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": route.content_type, **route.headers})
        await response.prepare(request)
        try:
            for chunk in route.chunks():
                await response.write(chunk)
                self.sent[request.path] += len(chunk)
                await asyncio.sleep(route.chunk_delay_s)
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client stopped reading: what it does when a limit is reached
        return response

    def _answer(self, request: web.Request, route: Route) -> web.Response:
        if route.location:
            return web.Response(status=route.status, headers={"Location": route.location})
        if route.status != 200:
            return web.Response(status=route.status, body=route.body)
        headers = {"Content-Type": route.content_type}
        if route.etag:
            headers["ETag"] = route.etag
            if request.headers.get("If-None-Match") == route.etag:
                return web.Response(status=304, headers={"ETag": route.etag})
        return web.Response(body=route.body, headers=headers)

    @classmethod
    @asynccontextmanager
    async def running(
        cls, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> AsyncIterator[FeedServer]:
        """On `host` (any 127.x.y.z is this machine: another host for a move), over https
        with the server context `tls`."""
        server = cls()
        app = web.Application()
        app.router.add_route("GET", "/{path:.*}", server.handle)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, host, 0, ssl_context=tls)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        server.base_url = f"{'https' if tls else 'http'}://{host}:{port}"
        try:
            yield server
        finally:
            await runner.cleanup()


def _filled(size: int, chunk: int) -> Iterator[bytes]:
    block = b"\0" * chunk
    for _start in range(0, size - chunk + 1, chunk):
        yield block
    if size % chunk:
        yield block[: size % chunk]


def _gzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
    for chunk in chunks:
        packed = packer.compress(chunk)
        if packed:
            yield packed
    yield packer.flush()


@dataclass(frozen=True)
class Tls:
    """A self-signed certificate for 127.0.0.1: the server's context and a client's that
    trusts it (and nothing else)."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def self_signed_tls(directory: Path) -> Tls:
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return Tls(server, ssl.create_default_context(cafile=str(cert)))


def without_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 must never go through a proxy set in the environment."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now
