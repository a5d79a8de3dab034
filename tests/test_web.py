"""Production run: webhook with its secret token, /healthz and /metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time

import aiohttp
import pytest
from sqlalchemy import event

from bot.db.engine import Database
from bot.metrics import Metrics
from bot.runtime import Deployment, run_until_signalled
from bot.web import HEALTH_CACHE_S, SECRET_HEADER, WEBHOOK_PATH, HealthCheck, WebServer
from tests.conftest import compose_against

SECRET = "s3cret-token_for-tests"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def webhook_bot(settings, db, sandbox):
    port = free_port()
    settings = dataclasses.replace(
        settings,
        webhook_url=f"http://127.0.0.1:{port}",
        webhook_secret=SECRET,
        port=port,
        listen="127.0.0.1",
    )
    stop = asyncio.Event()
    bot = compose_against(sandbox, settings, db, Deployment(receive="webhook"))
    task = asyncio.create_task(run_until_signalled(bot, stop=stop))
    await sandbox.wait_until(lambda: bool(sandbox.webhook_info().get("url")), timeout=10)
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(100):  # the server starts right after the webhook is set
            try:
                await client.get("/healthz")
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        yield client
    stop.set()
    await asyncio.wait_for(task, 15)


async def test_updates_arrive_by_webhook_with_the_secret(sandbox, webhook_bot):
    info = sandbox.webhook_info()
    assert info["url"].endswith(WEBHOOK_PATH)
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    assert "Ti diamo il benvenuto, Anna!" in anna.last_bot_message.text


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: ""}])
async def test_webhook_rejects_requests_without_the_secret(webhook_bot, headers):
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 5, "type": "private"},
            "text": "/start",
        },
    }
    response = await webhook_bot.post(WEBHOOK_PATH, json=update, headers=headers)
    assert response.status == 403


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"\xff\xfe",
        b"[]",
        b"[1, 2]",
        b"null",
        b"42",
        b'"an update"',
        b"true",
        b"{}",
        b'{"message": {"text": "/start"}}',
        b'{"update_id": "7"}',
        b'{"update_id": true}',
        b'{"update_id": 1.5}',
        b'{"update_id": -1}',
        b'{"update_id": 99999999999999999999999999}',
        b'{"update_id": 7, "message": "hello"}',
        b'{"update_id": 7, "message": []}',
        b'{"update_id": 7, "message": {"message_id": 1}}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
async def test_webhook_answers_400_to_anything_that_is_not_an_update(webhook_bot, body, caplog):
    response = await webhook_bot.post(WEBHOOK_PATH, data=body, headers={SECRET_HEADER: SECRET})
    assert response.status == 400
    assert await response.text() == "not a Telegram update"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.fixture
def delivered_updates(sandbox, monkeypatch) -> list:
    """The updates the stand-in pushes to the webhook, as Telegram would send them again."""
    pushed = []
    push = sandbox.queue.push

    def recording_push(*args, **kwargs):
        update = push(*args, **kwargs)
        pushed.append(update)
        return update

    monkeypatch.setattr(sandbox.queue, "push", recording_push)
    return pushed


async def test_an_update_telegram_delivers_again_is_acknowledged_and_not_handled_twice(
    sandbox, webhook_bot, delivered_updates
):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/help")
    replies = sandbox.count("sendMessage")
    replayed = delivered_updates[-1].to_json()
    for _ in range(3):  # Telegram retries while the first answer is slow
        response = await webhook_bot.post(
            WEBHOOK_PATH, json=replayed, headers={SECRET_HEADER: SECRET}
        )
        assert response.status == 200
    # Updates are handled in order: once the next one is answered, a replay would have been.
    await anna.send("/help")
    assert sandbox.count("sendMessage") == replies + 1
    assert len([entry for entry in anna.chat.history if entry.kind == "user_message"]) == 2


async def test_health_reports_database_scheduler_sender_and_backlog(webhook_bot):
    response = await webhook_bot.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body == {
        "status": "ok",
        "database": "ok",
        "backlog": 0,
        "scheduler": "running",
        "sender": "running",
    }


async def test_metrics_count_updates(sandbox, webhook_bot):
    await sandbox.user(1001, language_code="it").send("/help")
    text = await (await webhook_bot.get("/metrics")).text()
    assert 'psm_updates_total{kind="message"} 1.0' in text
    assert "psm_delivery_backlog 0.0" in text


async def test_health_fails_when_the_database_is_unreachable():
    broken = Database("postgresql://nobody@127.0.0.1:1/nowhere")
    server = WebServer(health=HealthCheck(broken), metrics=Metrics())
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as client:
            response = await client.get(f"http://127.0.0.1:{server.port}/healthz")
            assert response.status == 503
            assert (await response.json())["database"].startswith("unreachable")
    finally:
        await server.stop()
        await broken.dispose()


# --- /healthz and /metrics under a flood: cached figures, at most one query per interval -----


class CountedBacklogQueries:
    """Counts the health check's backlog query on an engine (a SQLAlchemy event listener);
    while `down` is set, every statement fails as if the database were unreachable."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.count = 0
        self.down = False
        event.listen(self.engine, "before_cursor_execute", self._before)

    def _before(self, _conn, _cursor, statement, *_args) -> None:
        if self.down:
            raise ConnectionRefusedError("the database is down")
        if "count(*)" in statement and "FROM deliveries" in statement:
            self.count += 1

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)


@pytest.fixture
def backlog_queries(db):
    counted = CountedBacklogQueries(db)
    yield counted
    counted.remove()


async def flood(client: aiohttp.ClientSession, path: str, times: int = 500) -> list[int]:
    async def get() -> int:
        async with client.get(path) as response:
            await response.read()
            return response.status

    return await asyncio.gather(*(get() for _ in range(times)))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def cached_health_server(db, clock, metrics):
    health = HealthCheck(db, cache_seconds=3, clock=clock, metrics=metrics)
    server = WebServer(health=health, metrics=metrics)
    await server.start("127.0.0.1", 0)
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as client:
        yield client
    await server.stop()


async def test_a_flood_of_health_checks_makes_one_query_per_interval(
    cached_health_server, backlog_queries, clock
):
    client = cached_health_server
    assert await flood(client, "/healthz") == [200] * 500
    assert await flood(client, "/metrics") == [200] * 500
    assert backlog_queries.count == 1
    clock.now += 3
    assert await flood(client, "/healthz", 100) == [200] * 100
    assert backlog_queries.count == 2


async def test_an_outage_is_reported_within_the_cache_interval(
    cached_health_server, backlog_queries, clock
):
    client = cached_health_server
    assert (await client.get("/healthz")).status == 200
    backlog_queries.down = True
    clock.now += 3
    statuses = await flood(client, "/healthz", 100)
    assert statuses == [503] * 100
    body = await (await client.get("/healthz")).json()
    assert body["status"] == "failing" and body["database"].startswith("unreachable")
    backlog_queries.down = False
    clock.now += 3
    assert (await client.get("/healthz")).status == 200


async def test_metrics_are_rendered_once_per_interval(cached_health_server, clock, metrics):
    client = cached_health_server
    assert 'psm_updates_total{kind="message"}' not in await (await client.get("/metrics")).text()
    metrics.updates.labels("message").inc()
    assert 'psm_updates_total{kind="message"}' not in await (await client.get("/metrics")).text()
    clock.now += 3
    text = await (await client.get("/metrics")).text()
    assert 'psm_updates_total{kind="message"} 1.0' in text
    assert "psm_delivery_backlog 0.0" in text


async def test_the_shipped_health_check_is_cheap_under_a_flood(webhook_bot, backlog_queries):
    started = time.monotonic()
    statuses = await flood(webhook_bot, "/healthz") + await flood(webhook_bot, "/metrics")
    elapsed = time.monotonic() - started
    assert statuses == [200] * 1000
    # one query per cache interval at most, however long the flood took on a busy machine
    assert backlog_queries.count <= elapsed / HEALTH_CACHE_S + 2
