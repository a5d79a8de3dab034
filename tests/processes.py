"""Real bot processes for tests that need more than one (crashes, several workers)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.conftest import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent


async def start_deliver(
    database_url: str, sandbox, rate: float, *, wait_s: float = 0.0
) -> asyncio.subprocess.Process:
    """`python -m bot deliver` against the stand-in: sends what is due (and, with `wait_s`,
    the retries due within that many seconds), then exits."""
    return await start_bot(database_url, sandbox, rate, "deliver", "--wait", str(wait_s))


async def start_worker(database_url: str, sandbox, rate: float) -> asyncio.subprocess.Process:
    """`python -m bot run --worker` against the stand-in: sends until SIGTERM."""
    return await start_bot(database_url, sandbox, rate, "run", "--worker")


async def finished(process: asyncio.subprocess.Process, timeout: float) -> str:
    """Wait for `process` to end and return its stderr; past `timeout` it is killed (and its
    pipes read to the end, so nothing is left for a later test to trip over) and the test fails.

    Timeouts are generous: a busy machine makes the work slower, never wrong."""
    try:
        _, errors = await asyncio.wait_for(process.communicate(), timeout=timeout)
    except TimeoutError:
        process.kill()
        _, errors = await process.communicate()
        raise AssertionError(
            f"the process did not finish in {timeout:g} s:\n{errors.decode(errors='replace')}"
        ) from None
    return errors.decode(errors="replace")


async def start_bot(
    database_url: str, sandbox, rate: float, *args: str
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE_URL": sandbox.base_url,
        "DELIVERY_RATE": str(rate),
        "LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


class TcpProxy:
    """A TCP relay in front of a server (PostgreSQL) that a test can cut and restore: while
    it is stopped, connections are refused and those open are closed, as in an outage."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            for end in (writer, upstream_writer):
                self._writers.discard(end)
                end.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()
