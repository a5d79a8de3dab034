"""Monitoring data from elsewhere: a dataset polled by URL, or an external SQL database.

A URL is fetched with a conditional GET (ETag / Last-Modified): 304 means nothing to do.
Either way the rows go through the same validation and change detection as a file, in one
transaction together with the new validators, so a failed import is retried next time.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from bot.config import TIMEZONE
from bot.db.engine import Database, sync_url
from bot.db.models import MonitoringSource, utcnow
from bot.services import monitoring
from bot.services.monitoring import ImportReport
from bot.services.monitoring_changes import DEFAULT_PROGRESS_THRESHOLD
from bot.services.monitoring_sources import (
    MAX_RECORDS,
    RECORD_COLUMN,
    RawRecord,
    SourceError,
    normalize_key,
    read_bytes,
    table_named,
    too_many_records,
)
from bot.services.monitoring_validate import InvalidDataset
from feeds.fetch import FeedFetcher, FetchResult, FetchStatus

log = logging.getLogger(__name__)


class PollStatus(enum.StrEnum):
    IMPORTED = "imported"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"  # network error or invalid data: nothing imported


@dataclass
class PollOutcome:
    status: PollStatus
    report: ImportReport | None = None
    error: str | None = None


def today_in_rome(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(TIMEZONE).date()


async def poll_url(
    db: Database,
    url: str,
    *,
    fetcher: FeedFetcher | None = None,
    threshold: int = DEFAULT_PROGRESS_THRESHOLD,
    today: date | None = None,
) -> PollOutcome:
    """Fetch the dataset if it changed, and import it; never raises for bad data."""
    async with db.transaction() as session:
        source = await _source(session, url)
        etag, last_modified = source.etag, source.last_modified
    own_fetcher = fetcher is None
    fetcher = fetcher or FeedFetcher()
    try:
        fetched = await fetcher.fetch(url, etag=etag, last_modified=last_modified)
    finally:
        if own_fetcher:
            await fetcher.aclose()
    if fetched.status is FetchStatus.NOT_MODIFIED:
        return await _record(db, url, PollOutcome(PollStatus.NOT_MODIFIED))
    if fetched.status is FetchStatus.ERROR:
        error = fetched.error.message if fetched.error else "fetch failed"
        return await _record(db, url, PollOutcome(PollStatus.FAILED, error=error))
    try:
        records = await asyncio.to_thread(read_bytes, fetched.content or b"", _kind(fetched), url)
    except SourceError as error:
        return await _record(db, url, PollOutcome(PollStatus.FAILED, error=str(error)))
    return await _import(db, records, url, fetched, threshold, today or today_in_rome())


def _kind(fetched: FetchResult) -> str:
    content_type = (fetched.content_type or "").lower()
    path = (fetched.final_url or fetched.url).split("?", 1)[0].lower()
    if "csv" in content_type or path.endswith(".csv"):
        return "csv"
    if "yaml" in content_type or path.endswith((".yaml", ".yml")):
        return "yaml"
    return "json"


async def _import(
    db: Database,
    records: list[RawRecord],
    url: str,
    fetched: FetchResult,
    threshold: int,
    today: date,
) -> PollOutcome:
    try:
        async with db.transaction() as session:
            report = await monitoring.import_records(
                session, records, today=today, threshold=threshold
            )
            source = await _source(session, url)
            source.etag, source.last_modified = fetched.etag, fetched.last_modified
            _mark(source, PollStatus.IMPORTED, None)
    except InvalidDataset as invalid:
        error = "; ".join(str(e) for e in invalid.errors[:5])
        log.warning("monitoring dataset %s refused: %s", url, error)
        return await _record(db, url, PollOutcome(PollStatus.FAILED, error=error))
    return PollOutcome(PollStatus.IMPORTED, report)


async def _source(session, url: str) -> MonitoringSource:
    source = await session.scalar(select(MonitoringSource).where(MonitoringSource.url == url))
    if source is None:
        source = MonitoringSource(url=url)
        session.add(source)
        await session.flush()
    return source


async def _record(db: Database, url: str, outcome: PollOutcome) -> PollOutcome:
    async with db.transaction() as session:
        _mark(await _source(session, url), outcome.status, outcome.error)
    if outcome.error:
        log.warning("monitoring dataset %s: %s", url, outcome.error)
    return outcome


def _mark(source: MonitoringSource, status: PollStatus, error: str | None) -> None:
    source.last_polled_at = utcnow()
    source.last_status = status.value
    source.last_error = error[:500] if error else None


# --- an external SQL database ----------------------------------------------------------


async def poll_sql(
    db: Database,
    sql_url: str,
    query: str,
    *,
    threshold: int = DEFAULT_PROGRESS_THRESHOLD,
    today: date | None = None,
) -> PollOutcome:
    """Read the rows of `query` and import them; errors come back in the outcome."""
    try:
        records = await asyncio.to_thread(read_sql_records, sql_url, query)
    except (SQLAlchemyError, SourceError) as error:
        message = str(error).splitlines()[0]
        log.warning("monitoring SQL source: %s", message)
        return PollOutcome(PollStatus.FAILED, error=message)
    try:
        async with db.transaction() as session:
            report = await monitoring.import_records(
                session, records, today=today or today_in_rome(), threshold=threshold
            )
    except InvalidDataset as invalid:
        return PollOutcome(PollStatus.FAILED, error="; ".join(str(e) for e in invalid.errors[:5]))
    return PollOutcome(PollStatus.IMPORTED, report)


def read_sql_records(sql_url: str, query: str) -> list[RawRecord]:
    """Rows as records: a `record` column names each row's table, else rows are actions."""
    engine, limit = create_engine(_driver_url(sql_url)), MAX_RECORDS + 1
    try:
        with engine.connect() as connection:
            result = connection.execute(text(query))
            columns = [normalize_key(column) for column in result.keys()]  # noqa: SIM118 - a Result, not a dict
            rows = [dict(zip(columns, row, strict=True)) for row in result.fetchmany(limit)]
    finally:
        engine.dispose()
    if len(rows) == limit:
        raise too_many_records("SQL")
    return [_sql_record(number, row) for number, row in enumerate(rows, start=1)]


def _driver_url(sql_url: str):
    """Our drivers for SQLite and PostgreSQL; any other URL is used as given."""
    try:
        return sync_url(sql_url)
    except KeyError:
        return sql_url


def _sql_record(number: int, row: dict[str, Any]) -> RawRecord:
    fields = {key: value for key, value in row.items() if value is not None and value != ""}
    table = table_named(str(fields.pop(RECORD_COLUMN, "action")))
    return RawRecord(table or "?", fields, f"SQL row {number}")
