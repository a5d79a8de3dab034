"""Shared fixtures: a migrated database on each backend, the Bot API stand-in, the running bot.

Every test that uses `db` runs twice: on SQLite and on PostgreSQL (127.0.0.1:5432, database
`test`). Set PSM_TEST_BACKENDS=sqlite to run SQLite only on a machine without PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.db import migrate
from bot.db.engine import Database, sync_url
from bot.db.models import (
    AnnualReview,
    AudienceChange,
    BroadcastDraft,
    Delivery,
    DeliveryPause,
    Event,
    EventRsvp,
    EventSource,
    Feed,
    FeedbackPrompt,
    Indicator,
    Measurement,
    MonitoringSource,
    Notification,
    NotificationTag,
    Participant,
    PlanAction,
    RecordCounter,
    RecordEntry,
    RecordEntryTag,
    SeenFeedItem,
    StaffAction,
    StaffInvite,
    StaffMember,
    Subscriber,
    Subscription,
    Worker,
)
from bot.services import plan

os.environ.setdefault("PTB_TIMEDELTA", "1")  # as `python -m bot` does

POSTGRES_URL = os.environ.get("PSM_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
BACKENDS = [b.strip() for b in os.environ.get("PSM_TEST_BACKENDS", "sqlite,postgresql").split(",")]
TEST_TOKEN = "123456789:TEST-token-for-the-local-sandbox-only"

# Rows written by tests; reference data (strategies, zones, comuni) is seeded once per backend.
USER_TABLES = [
    AudienceChange,
    BroadcastDraft,
    StaffAction,
    StaffInvite,
    StaffMember,
    Worker,
    DeliveryPause,
    EventRsvp,
    Event,
    EventSource,
    Measurement,
    Indicator,
    PlanAction,
    AnnualReview,
    MonitoringSource,
    RecordEntryTag,
    RecordEntry,
    RecordCounter,
    FeedbackPrompt,
    Participant,
    Delivery,
    NotificationTag,
    SeenFeedItem,
    Feed,
    Notification,
    Subscription,
    Subscriber,
]


@pytest.fixture(autouse=True)
def _logging_as_pytest_set_it():
    """A test that runs `main()` in-process configures logging for a terminal: put pytest's
    handlers back, so nothing later writes to a stream pytest has closed."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        _migrate_and_seed(url)
        yield url
        return
    with TemporaryPostgresDatabase() as url:
        _migrate_and_seed(url)
        yield url


def _migrate_and_seed(url: str) -> None:
    migrate.upgrade(url)

    async def seed() -> None:
        db = Database(url)
        async with db.transaction() as session:
            await plan.seed_reference_data(session, plan.load_plan())
        await db.dispose()

    asyncio.run(seed())


class TemporaryPostgresDatabase:
    """A fresh database on the test server, dropped afterwards, so runs never collide."""

    def __init__(self) -> None:
        self.name = f"psm_test_{uuid.uuid4().hex[:12]}"
        self.admin = create_engine(sync_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")

    def __enter__(self) -> str:
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        return make_url(POSTGRES_URL).set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *exc) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture
def backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    async with database.transaction() as session:
        for table in USER_TABLES:
            await session.execute(delete(table))
    await database.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(telegram_bot_token=TEST_TOKEN, database_url=database_url)


@pytest.fixture
async def sandbox():
    from bot.sandbox import BotApiSandbox

    # A busy machine may take a while to answer: waiting longer costs nothing when it is quick.
    async with BotApiSandbox(
        token=TEST_TOKEN, bot_username="psm_test_bot", reply_timeout=30
    ) as stand_in:
        yield stand_in
        # Whatever the test did, the bot never sent anything Telegram would reject.
        stand_in.assert_no_rejections()


def compose_against(sandbox, settings: Settings, db: Database, deployment=None):
    """The bot exactly as `python -m bot run` composes it, talking to the stand-in.

    Tests that schedule jobs with their own timing use a deployment that does not send
    (`run --webhook --web-only` composes the same handlers without jobs).
    """
    from bot.runtime import Deployment, compose

    bot_settings = dataclasses.replace(settings, telegram_api_base_url=sandbox.base_url)
    composition = compose(bot_settings, db, deployment or Deployment())
    processor = composition.application.update_processor
    sandbox.watch_bot(lambda: processor.current_concurrent_updates > 0)
    return composition


@pytest.fixture
def composed(settings, db, sandbox):
    """The bot exactly as `python -m bot run` composes it (application, jobs, sender)."""
    return compose_against(sandbox, settings, db)


@pytest.fixture
async def running_bot(composed):
    """The shipped application, long polling the stand-in over HTTP (the sender is started
    by the tests that want one, with the timing they need)."""
    from bot.runtime import polling

    async with polling(composed.application, poll_timeout=1):
        yield composed.application


async def eventually(check, timeout: float = 5.0, interval: float = 0.05):
    """Wait until the async `check()` returns a truthy value (for effects without a reply)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(interval)
