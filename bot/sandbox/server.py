"""The aiohttp application: Bot API routes and file downloads."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from .dispatcher import Dispatcher, Outcome
from .errors import ApiError, bad_request
from .files import FileStore
from .validation import RequestPayload, UploadedFile

MAX_REQUEST_BYTES = 60 * 1024 * 1024
# What a misbehaving proxy in front of the Bot API might answer with HTTP 200.
PROXY_PAGE = (
    "<html><head><title>Service temporarily unavailable</title></head>"
    "<body><h1>Service temporarily unavailable</h1><p>Please try again later.</p></body></html>"
)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _json_response(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


def _error_response(error: ApiError) -> web.Response:
    return _json_response(error.to_json(), status=error.error_code)


async def _read_form(request: web.Request) -> RequestPayload:
    payload = RequestPayload()
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, FileField):
            content = value.file.read()
            payload.files[name] = UploadedFile(value.filename, content, value.content_type)
        else:
            payload.values[name] = value
    return payload


async def _read_json(request: web.Request) -> RequestPayload:
    try:
        body = await request.json()
    except ValueError:
        raise bad_request("can't parse JSON body") from None
    if not isinstance(body, dict):
        raise bad_request("JSON body must be an object")
    return RequestPayload(values=body)


async def read_payload(request: web.Request) -> RequestPayload:
    """Query string plus body parameters (body wins), like Telegram accepts them."""
    payload = RequestPayload()
    if request.body_exists:
        if request.content_type == "application/json":
            payload = await _read_json(request)
        elif request.content_type in _FORM_TYPES:
            payload = await _read_form(request)
    payload.values = {**request.query, **payload.values}
    return payload


def _client_alive(request: web.Request) -> Callable[[], bool]:
    def alive() -> bool:
        transport = request.transport
        return transport is not None and not transport.is_closing()

    return alive


def _drop(request: web.Request) -> web.Response:
    """Close the connection without answering (a network failure for the client).

    aiohttp then fails quietly to write the returned response.
    """
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=204)


async def _hang(request: web.Request, seconds: float) -> None:
    """Answer late; stop waiting once the client has given up (nobody is left to answer)."""
    alive = _client_alive(request)
    deadline = asyncio.get_running_loop().time() + seconds
    while alive() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(min(0.05, seconds))


@dataclass(frozen=True)
class Latency:
    """Telegram is 30–80 ms away: each way of a request takes half of a round trip drawn
    from `round_trip_s` ± `jitter_s` / 2, the way there before the call is counted."""

    round_trip_s: float
    jitter_s: float = 0.0

    def one_way(self) -> float:
        low = max(0.0, self.round_trip_s - self.jitter_s / 2)
        return random.uniform(low, self.round_trip_s + self.jitter_s / 2) / 2


class ApiRoutes:
    def __init__(self, token: str, dispatcher: Dispatcher, files: FileStore) -> None:
        self.token = token
        self.dispatcher = dispatcher
        self.files = files
        self.latency: Latency | None = None

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self.handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self.handle_file)
        return app

    async def handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        try:
            payload = await read_payload(request)
        except ApiError as error:
            return _error_response(error)
        latency = self.latency
        if latency is not None:
            await asyncio.sleep(latency.one_way())
        outcome = await self.dispatcher.dispatch(
            request.match_info["method"], payload, _client_alive(request)
        )
        if outcome.hang_s:
            await _hang(request, outcome.hang_s)
        if latency is not None:
            await asyncio.sleep(latency.one_way())
        return self._respond(request, outcome)

    @staticmethod
    def _respond(request: web.Request, outcome: Outcome) -> web.Response:
        if outcome.drop_connection:
            return _drop(request)
        if outcome.not_json:
            return web.Response(text=PROXY_PAGE, content_type="text/html")
        if outcome.error is not None:
            return _error_response(outcome.error)
        return _json_response({"ok": True, "result": outcome.result})

    async def handle_file(self, request: web.Request) -> web.Response:
        stored = self.files.by_path(request.match_info["file_path"])
        if request.match_info["token"] != self.token or stored is None:
            return _error_response(ApiError(404, "Not Found"))
        return web.Response(body=stored.content, content_type=stored.mime_type)
