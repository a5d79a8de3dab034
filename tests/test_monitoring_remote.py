"""Monitoring data polled from a URL (conditional GET, served locally) or an external database."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

import pytest
from sqlalchemy import func, select

from bot.app import build_sender
from bot.config import ConfigError, MonitoringSettings, Settings
from bot.db.models import MonitoringSource, Notification, PlanAction, TargetKind
from bot.delivery.sender import SenderConfig
from bot.jobs.monitoring import MONITORING_POLLING_JOB, poll_sources, schedule_monitoring_polling
from bot.runtime import Deployment, polling
from bot.services.monitoring_remote import PollStatus, poll_sql, poll_url
from tests.conftest import compose_against, eventually
from tests.feed_server import FeedServer, without_proxies
from tests.test_delivery import subscriber

TODAY = date(2026, 3, 2)
JSON_TYPE = "application/json"


def dataset(status: str = "in_progress", progress: int = 40) -> bytes:
    action = {
        "code": "S3.9",
        "strategy": "S3",
        "title_it": "Bus a chiamata in Val Trebbia (esempio)",
        "zones": ["val_trebbia_alta_val_bisagno"],
        "status": status,
        "progress": progress,
        "indicators": [
            {
                "code": "I1",
                "name_it": "Corse effettuate",
                "target": 5000,
                "measurements": [{"period": "2025", "value": 1200}],
            }
        ],
    }
    return json.dumps({"sample": True, "actions": [action]}).encode()


@pytest.fixture
async def server(monkeypatch):
    without_proxies(monkeypatch)
    async with FeedServer.running() as running:
        yield running


async def notifications(db) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Notification))


async def test_a_dataset_is_imported_then_304_brings_nothing_then_a_change_is_told(db, server):
    url = server.serve("/monitoraggio.json", body=dataset(), etag='"v1"', content_type=JSON_TYPE)
    first = await poll_url(db, url, today=TODAY)
    assert first.status is PollStatus.IMPORTED
    assert [c.kind.value for c in first.report.changes] == ["new_action"]

    second = await poll_url(db, url, today=TODAY)
    assert second.status is PollStatus.NOT_MODIFIED and second.report is None
    assert server.requests_to("/monitoraggio.json")[-1]["If-None-Match"] == '"v1"'
    assert await notifications(db) == 1

    server.serve(
        "/monitoraggio.json",
        body=dataset(status="delayed"),
        etag='"v2"',
        content_type=JSON_TYPE,
    )
    third = await poll_url(db, url, today=TODAY)
    assert [c.kind.value for c in third.report.changes] == ["status"]
    assert await notifications(db) == 2


async def test_the_same_content_under_a_new_etag_notifies_nothing(db, server):
    url = server.serve("/m.json", body=dataset(), etag='"a"', content_type=JSON_TYPE)
    await poll_url(db, url, today=TODAY)
    server.serve("/m.json", body=dataset(), etag='"b"', content_type=JSON_TYPE)
    again = await poll_url(db, url, today=TODAY)
    assert again.status is PollStatus.IMPORTED and again.report.changes == []
    assert await notifications(db) == 1


async def test_a_csv_dataset_by_url_is_read_as_csv(db, server):
    body = b"code,strategy,title_it,status,progress\nS1.9,S1,Esempio,planned,0\n"
    url = server.serve("/azioni.csv", body=body, content_type="text/csv; charset=utf-8")
    outcome = await poll_url(db, url, today=TODAY)
    assert outcome.status is PollStatus.IMPORTED and outcome.report.new_actions == 1


async def test_invalid_or_unreachable_data_imports_nothing_and_is_retried(db, server):
    bad = json.dumps({"actions": [{"code": "X1", "strategy": "S1", "title_it": "X"}]})
    url = server.serve("/bad.json", body=bad.encode(), etag='"x"', content_type=JSON_TYPE)
    outcome = await poll_url(db, url, today=TODAY)
    assert outcome.status is PollStatus.FAILED
    assert "status: missing" in outcome.error
    async with db.transaction() as session:
        source = await session.scalar(select(MonitoringSource))
        assert (source.etag, source.last_status) == (None, "failed")  # fetched in full next time
        assert await session.scalar(select(func.count()).select_from(PlanAction)) == 0
    down = await poll_url(db, server.fail("/down.json", 503), today=TODAY)
    assert down.status is PollStatus.FAILED


async def test_an_external_sql_database_is_read_with_the_configured_query(db, tmp_path):
    path = tmp_path / "ufficio.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE azioni (codice TEXT, strategia TEXT, titolo TEXT, stato TEXT, pct INT)"
        )
        connection.execute("INSERT INTO azioni VALUES ('S2.9', 'S2', 'Esempio SQL', 'avviata', 10)")
    query = (
        "SELECT codice AS code, strategia AS strategy, titolo AS title_it, "
        "stato AS status, pct AS progress FROM azioni"
    )
    config = MonitoringSettings(sql_url=f"sqlite:///{path}", sql_query=query)
    (outcome,) = await poll_sources(db, config)
    assert outcome.status is PollStatus.IMPORTED and outcome.report.new_actions == 1
    async with db.transaction() as session:
        assert (await session.get(PlanAction, "S2.9")).status == "in_progress"
    broken = await poll_sql(db, f"sqlite:///{path}", "SELECT * FROM nessuna_tabella")
    assert broken.status is PollStatus.FAILED and "nessuna_tabella" in broken.error


def test_monitoring_settings_come_from_the_environment_with_clear_errors():
    config = Settings.from_env(
        {"MONITORING_URL": "https://dati.example.org/m.json", "MONITORING_POLL_INTERVAL": "900"},
        env_file=None,
    ).monitoring
    assert (config.url, config.poll_interval_s, config.progress_threshold) == (
        "https://dati.example.org/m.json",
        900.0,
        10,
    )
    with pytest.raises(ConfigError, match="set both or neither"):
        Settings.from_env({"MONITORING_SQL_URL": "sqlite:///x"}, env_file=None)
    with pytest.raises(ConfigError, match="MONITORING_PROGRESS_THRESHOLD"):
        Settings.from_env({"MONITORING_PROGRESS_THRESHOLD": "0"}, env_file=None)
    with pytest.raises(ConfigError, match="MONITORING_URL is not set"):
        Settings.from_env({}, env_file=None).monitoring.require_url()


async def test_the_scheduled_job_polls_the_dataset_and_followers_are_told(
    db, settings, sandbox, server
):
    await subscriber(db, sandbox, 501, (TargetKind.STRATEGY, "S3"))
    url = server.serve("/m.json", body=dataset(), etag='"v1"', content_type=JSON_TYPE)
    urls = {"base_url": sandbox.base_url, "base_file_url": sandbox.base_file_url}
    application = compose_against(sandbox, settings, db, Deployment(sends=False)).application
    sender = build_sender(
        settings,
        db,
        config=SenderConfig(messages_per_second=None, per_chat_interval_s=None),
        **urls,
    )
    assert schedule_monitoring_polling(application, MonitoringSettings()) is None
    config = MonitoringSettings(url=url, poll_interval_s=0.3)
    job = schedule_monitoring_polling(application, config, sender=sender, first_s=0.1)
    assert job.name == MONITORING_POLLING_JOB

    async with polling(application, sender=sender, poll_timeout=1):

        async def delivered():
            return sandbox.user(501).bot_messages

        [message] = await eventually(delivered, timeout=10)
    assert "Nuova azione del Piano (strategia S3)" in message.text
    assert "S3.9 · Bus a chiamata in Val Trebbia (esempio)" in message.text
