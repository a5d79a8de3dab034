"""An aiohttp transport for the sender's Bot.

PTB's default transport (httpx) spends most of a broadcast's CPU in its connection pool's
bookkeeping; aiohttp's connector keeps the sender near the stand-in's own speed. Text-only:
the sender never uploads files (the interactive bot keeps PTB's default transport).
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


def _value(timeout, default: float | None) -> float | None:
    return default if isinstance(timeout, DefaultValue) else timeout


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
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            await self.initialize()
        if request_data is not None and request_data.contains_files:
            raise NetworkError("the delivery transport does not upload files")
        timeout = aiohttp.ClientTimeout(
            sock_connect=_value(connect_timeout, self._connect_timeout),
            sock_read=_value(read_timeout, self._read_timeout),
        )
        data = request_data.json_parameters if request_data is not None else None
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp: {error!r}") from error
