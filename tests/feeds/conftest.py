"""A local feed server (aiohttp on 127.0.0.1) with the scenarios the fetcher must survive."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from feeds_testdata import ETAG, LARGE_BODY_BYTES, LAST_MODIFIED, read_data


@dataclass
class FeedServer:
    base_url: str
    in_flight: int = 0
    max_in_flight: int = 0
    requests: list[web.Request] = field(default_factory=list)
    bodies: dict[str, bytes] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path


def _feed_response(body: bytes, content_type: str = "application/rss+xml") -> web.Response:
    return web.Response(body=body, headers={"Content-Type": content_type})


def _routes(server: FeedServer) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/data/{name}")
    async def data(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        content_type = "text/html; charset=utf-8" if name.endswith(".html") else "text/xml"
        return _feed_response(read_data(name), content_type)

    @routes.get("/served/{name}")
    async def served(request: web.Request) -> web.Response:
        return _feed_response(server.bodies[request.match_info["name"]])

    @routes.get("/conditional")
    async def conditional(request: web.Request) -> web.Response:
        validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
        if request.headers.get("If-None-Match") == ETAG or (
            request.headers.get("If-Modified-Since") == LAST_MODIFIED
        ):
            return web.Response(status=304, headers=validators)
        body = read_data("rss2_guid.xml")
        return web.Response(
            body=body, headers={**validators, "Content-Type": "application/rss+xml"}
        )

    @routes.get("/status/{code}")
    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="errore")

    @routes.get("/slow")
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "5")))
        return _feed_response(read_data("rss2_guid.xml"))

    @routes.get("/drip")
    async def drip(request: web.Request) -> web.StreamResponse:
        """Answers at once, then one byte every 0.1 s: no single read ever times out."""
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        for byte in read_data("rss2_guid.xml")[:100]:
            await response.write(bytes([byte]))
            await asyncio.sleep(0.1)
        return response

    @routes.get("/redirect/{status}/{hops}")
    async def redirect_chain(request: web.Request) -> web.Response:
        status, hops = int(request.match_info["status"]), int(request.match_info["hops"])
        target = f"/redirect/{status}/{hops - 1}" if hops > 1 else "/data/rss2_guid.xml"
        return web.Response(status=status, headers={"Location": target})

    @routes.get("/mixed")
    async def mixed(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/redirect/301/1"})

    @routes.get("/permanent-then-temporary")
    async def permanent_then_temporary(request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": "/redirect/302/1"})

    @routes.get("/loop/{name}")
    async def loop(request: web.Request) -> web.Response:
        other = "b" if request.match_info["name"] == "a" else "a"
        return web.Response(status=302, headers={"Location": f"/loop/{other}"})

    @routes.get("/redirect-to/{scheme}")
    async def redirect_to_scheme(request: web.Request) -> web.Response:
        return web.Response(
            status=302, headers={"Location": f"{request.match_info['scheme']}://x/y"}
        )

    @routes.get("/no-location")
    async def no_location(request: web.Request) -> web.Response:
        return web.Response(status=302)

    @routes.get("/moved/{name}")
    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": f"/data/{request.match_info['name']}"})

    @routes.get("/big/declared")
    async def big_declared(request: web.Request) -> web.Response:
        return _feed_response(b"x" * LARGE_BODY_BYTES)

    @routes.get("/big/chunked")
    async def big_chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(LARGE_BODY_BYTES // 10_000):
            await response.write(b"y" * 10_000)
        return response

    @routes.get("/big/gzip")
    async def big_gzip(request: web.Request) -> web.Response:
        """Small on the wire, large once decompressed."""
        body = gzip.compress(b"z" * LARGE_BODY_BYTES)
        headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
        return web.Response(body=body, headers=headers)

    @routes.get("/headers")
    async def headers(request: web.Request) -> web.Response:
        return web.json_response(dict(request.headers))

    @routes.get("/concurrent/{index}")
    async def concurrent(request: web.Request) -> web.Response:
        server.in_flight += 1
        server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            await asyncio.sleep(0.1)
        finally:
            server.in_flight -= 1
        return _feed_response(read_data("rss2_no_guid.xml"))

    return routes


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer(base_url="")

    @web.middleware
    async def record(request: web.Request, handler):
        server.requests.append(request)
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.add_routes(_routes(server))
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    server.base_url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 must never go through a proxy set in the environment."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
