"""An aiohttp transport for the sender's Bot.

PTB's default transport (httpx) spends most of a broadcast's CPU in its connection pool's
bookkeeping; aiohttp's connector keeps the sender near the stand-in's own speed. Text-only:
the sender never uploads files (the interactive bot keeps PTB's default transport).

Its errors say whether Telegram may have acted, which decides whether a delivery may be sent
again: `NotSent` (no connection was made: nothing left this machine), `AnswerLost` (the request
was written but no whole answer came back: it may have been carried out) and
`UnexpectedAnswer` (an answer that is not the Bot API's, e.g. a proxy's HTML page).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
from telegram import Bot
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

# Answers the Bot API gives with a JSON error body, which PTB turns into its errors. Any other
# status below 500 comes from something else (a proxy) and is not retried.
BOT_API_ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 429})
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.InvalidURL)
_SHOWN_BYTES = 120
_JSON_HEADERS = {"Content-Type": "application/json"}


class NotSent(NetworkError):
    """No connection to Telegram was made: the request never left; safe to send again."""


class ConnectTimedOut(NotSent, TimedOut):
    """Connecting took longer than the connect timeout."""


class AnswerLost(NetworkError):
    """The request was written, but no whole answer came back (connection dropped): Telegram
    may have carried it out."""


class AnswerTimedOut(AnswerLost, TimedOut):
    """The request was written and the answer did not come within the read timeout."""


class UnexpectedAnswer(TelegramError):
    """An HTTP answer that is not the Bot API's. With a 2xx status the request reached
    something that claims success, so Telegram may have carried it out (`maybe_sent`)."""

    def __init__(self, status: int, body: bytes) -> None:
        shown = body[:_SHOWN_BYTES].decode("utf-8", "replace").strip() or "empty body"
        super().__init__(f"unexpected answer from Telegram (HTTP {status}): {shown}")
        self.status = status
        self.maybe_sent = 200 <= status <= 299


class PreparedCall:
    """A Bot API call's parameters as one JSON body, made without PTB's objects.

    A broadcast spends most of its CPU building a `Message` from every answer and the keyboard's
    objects for every request; the sender's hot path needs neither (only the message id).
    `BaseRequest.post` hands its `request_data` untouched to `do_request`, so the answer goes
    through PTB's own error mapping: the same `RetryAfter`, `Forbidden`, `InvalidToken`, … as
    `Bot.send_message` raises.
    """

    __slots__ = ("body", "on_written", "parameters")
    contains_files = False

    def __init__(
        self, parameters: dict[str, Any], *, on_written: Callable[[], None] | None = None
    ) -> None:
        self.parameters = parameters
        self.body = json.dumps(parameters, ensure_ascii=False, separators=(",", ":")).encode()
        # Called as the request is written to the connection (our transport only).
        self.on_written = on_written

    @property
    def json_parameters(self) -> dict[str, str]:
        """For a transport other than ours (PTB's httpx one): form fields, as PTB sends them."""
        return {
            name: value if isinstance(value, str) else json.dumps(value)
            for name, value in self.parameters.items()
        }


async def post_prepared(bot: Bot, method: str, call: PreparedCall) -> Any:
    """The result of a Bot API call (its `result` field), errors as PTB raises them."""
    # `post` only passes request_data on to do_request, which reads what PreparedCall has.
    return await bot.request.post(f"{bot.base_url}/{method}", cast(RequestData, call))


def _value(timeout, default: float | None) -> float | None:
    # PTB passes BaseRequest.DEFAULT_NONE for a read or connect timeout the caller did not set.
    return default if timeout is BaseRequest.DEFAULT_NONE else timeout


class AiohttpRequest(BaseRequest):
    def __init__(
        self,
        *,
        connection_limit: int = 32,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
    ) -> None:
        self._connection_limit = connection_limit
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connection_limit)
            written = aiohttp.TraceConfig()
            written.on_request_chunk_sent.append(_report_written)
            self._session = aiohttp.ClientSession(connector=connector, trace_configs=[written])

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | PreparedCall | None = None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            await self.initialize()
            session = self._session
            assert session is not None  # initialize() made it
        if request_data is not None and request_data.contains_files:
            raise NetworkError("the delivery transport does not upload files")
        timeout = aiohttp.ClientTimeout(
            sock_connect=_value(connect_timeout, self._connect_timeout),
            sock_read=_value(read_timeout, self._read_timeout),
        )
        content: dict[str, Any] = {}
        if isinstance(request_data, PreparedCall):
            content = {
                "data": request_data.body,
                "headers": _JSON_HEADERS,
                "trace_request_ctx": request_data,
            }
        elif request_data is not None:
            content = {"data": request_data.json_parameters}
        try:
            async with session.request(
                method, url, timeout=timeout, allow_redirects=False, **content
            ) as response:
                status, body = response.status, await response.read()
        except _CONNECT_ERRORS as error:
            not_sent = ConnectTimedOut if isinstance(error, TimeoutError) else NotSent
            raise not_sent(f"not sent: {error!r}") from error
        except TimeoutError as error:
            raise AnswerTimedOut("no answer within the read timeout") from error
        except aiohttp.ClientError as error:
            raise AnswerLost(f"answer lost: {error!r}") from error
        return _checked(status, body)


async def _report_written(
    _session: aiohttp.ClientSession,
    context: SimpleNamespace,
    _params: aiohttp.TraceRequestChunkSentParams,
) -> None:
    # The body goes out on the loop's next turn, after the headers: a busy loop makes that
    # later than the request was released.
    call = context.trace_request_ctx
    if isinstance(call, PreparedCall) and call.on_written is not None:
        call.on_written()


def _checked(status: int, body: bytes) -> tuple[int, bytes]:
    """The answer, if it is one the Bot API gives; UnexpectedAnswer otherwise (5xx are left to
    PTB: a server error, retried)."""
    if 200 <= status <= 299:
        if not _is_bot_api_result(body):
            raise UnexpectedAnswer(status, body)
    elif status < 500 and status not in BOT_API_ERROR_STATUSES:
        raise UnexpectedAnswer(status, body)
    return status, body


def _is_bot_api_result(body: bytes) -> bool:
    try:
        answer = json.loads(body)
    except ValueError:  # includes a body that is not UTF-8
        return False
    return isinstance(answer, dict) and answer.get("ok") is True and "result" in answer
