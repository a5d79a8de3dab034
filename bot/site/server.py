"""The public pages on the bot's own aiohttp server (the process and port of /healthz).

One GET route after the bot's own reads every other address with `pages.parse`, so the
server and the static build answer the same addresses with the same bytes. Every answer has
a strong ETag from its body's hash (304 when `If-None-Match` matches) and Cache-Control; a
page is rendered at most once per `cache_seconds` however many ask (a flood costs one render
per interval, never one each). An address with no page gets the 404 page.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from bot.db.engine import Database
from bot.site.layout import Here, PageKind, PageRef, SiteOptions, parse
from bot.site.opendata import OpenDataFile, open_data_files
from bot.site.pages import Rendered, not_found, render

PAGE_CACHE_S = 5.0
CACHE_CONTROL = "public, max-age=60"
MAX_CACHED_PAGES = 512
# The pages load nothing from elsewhere: no script, font, image or style from another site.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class _Cached:
    at: float
    rendered: Rendered


class SiteServer:
    """Serves "Il Piano in cifre" (pages, QR codes, open-data files) from the database."""

    def __init__(
        self,
        db: Database,
        options: SiteOptions | None = None,
        *,
        cache_seconds: float = PAGE_CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.options = options or SiteOptions()
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._pages: OrderedDict[PageRef, _Cached] = OrderedDict()
        self._files: dict[str, tuple[float, dict[str, OpenDataFile]]] = {}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Add the pages' route; add it after the bot's own, which it would otherwise hide."""
        router.add_get("/{path:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        ref = parse(path)
        if ref is None:
            if not path.endswith("/") and parse(path + "/") is not None:
                raise web.HTTPMovedPermanently(path + "/")
            return self._not_found(request, path)
        found = await self.rendered(ref)
        if found is None:
            return self._not_found(request, path)
        return respond(request, found)

    async def rendered(self, ref: PageRef) -> Rendered | None:
        """The page or file at `ref` (cached for `cache_seconds`), or None when there is none."""
        if ref.kind is PageKind.DATA_FILE:
            files = await self._data_files(ref.language)
            found = files.get(ref.key or "")
            return None if found is None else Rendered(found.body, found.content_type)
        cached = self._pages.get(ref)
        now = self.clock()
        if cached is not None and now - cached.at < self.cache_seconds:
            return cached.rendered
        page = await render(self.db, ref, self.options)
        if page is not None:
            self._remember(ref, _Cached(now, page))
        return page

    def _remember(self, ref: PageRef, cached: _Cached) -> None:
        self._pages[ref] = cached
        self._pages.move_to_end(ref)
        while len(self._pages) > MAX_CACHED_PAGES:
            self._pages.popitem(last=False)

    async def _data_files(self, language: str) -> dict[str, OpenDataFile]:
        now = self.clock()
        cached = self._files.get(language)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        files = await open_data_files(self.db, language=language, base_url=self.options.public_url)
        self._files[language] = (now, files)
        return files

    def _not_found(self, request: web.Request, path: str) -> web.Response:
        language = "en" if path == "/en" or path.startswith("/en/") else "it"
        neutral = (path[3:] or "/") if language == "en" else path
        page = not_found(Here(neutral, language), self.options)
        response = _response(page)
        response.set_status(404)
        return response


def etag_of(body: bytes) -> str:
    """A strong validator: the same bytes, the same tag."""
    return hashlib.sha256(body).hexdigest()[:32]


def respond(request: web.Request, page: Rendered) -> web.Response:
    """The page, or 304 Not Modified when the client holds these very bytes."""
    tag = etag_of(page.body)
    wanted = request.if_none_match or ()
    if any(candidate.value in (tag, "*") for candidate in wanted):
        response = web.Response(status=304)
        _cache_headers(response, tag)
        return response
    response = _response(page)
    _cache_headers(response, tag)
    return response


def _response(page: Rendered) -> web.Response:
    response = web.Response(body=page.body)
    response.headers["Content-Type"] = page.content_type
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def _cache_headers(response: web.Response, tag: str) -> None:
    response.headers["ETag"] = f'"{tag}"'
    response.headers["Cache-Control"] = CACHE_CONTROL
