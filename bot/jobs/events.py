"""The events' repeating job on PTB's JobQueue: due reminders, and iCalendar sources by URL
(fetched like feeds: conditional GET, size cap, a longer wait after each failure).

Reminders have stable source keys, so a second round, a second worker or a restart never
creates one twice; a cancelled event gets none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from telegram.ext import Job

from bot.db.engine import Database
from bot.db.models import EventSource, utcnow
from bot.handlers.context import BotApplication, BotContext
from bot.jobs import Wakeable, job_data
from bot.services import event_ics, events
from feeds.fetch import FeedFetcher

log = logging.getLogger(__name__)

EVENT_JOB = "event-reminders"
EVENT_TICK_S = 60.0
CALENDAR_POLL_EVERY = timedelta(minutes=30)


@dataclass
class EventJob:
    db: Database
    sender: Wakeable | None = None
    clock: Callable[[], datetime] = utcnow
    calendar_every: timedelta = CALENDAR_POLL_EVERY
    client: httpx.AsyncClient | None = None
    # Per calendar source, for the life of the process: ETag and Last-Modified of the last
    # good fetch (conditional GET), and failures in a row (each doubles the wait).
    validators: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    failures: dict[int, int] = field(default_factory=dict)


def schedule_event_reminders(
    application: BotApplication,
    *,
    sender: Wakeable | None = None,
    every_s: float = EVENT_TICK_S,
    first_s: float = 15.0,
) -> Job:
    """Register the repeating events job; call after `build_application`."""
    if application.job_queue is None:
        raise RuntimeError("event reminders need PTB's JobQueue: python-telegram-bot[job-queue]")
    return application.job_queue.run_repeating(
        run_event_job,
        interval=every_s,
        first=first_s,
        name=EVENT_JOB,
        data=EventJob(application.bot_data.db, sender),
        job_kwargs={"max_instances": 1, "coalesce": True},
    )


async def run_event_job(context: BotContext) -> None:
    await event_round(job_data(context, EventJob))


async def event_round(job: EventJob) -> list[int]:
    """One round: import due calendars, then create due reminders. Returns new reminder ids."""
    imported = await poll_calendars(job)
    async with job.db.transaction() as session:
        created = await events.create_due_reminders(session, job.clock())
    if created:
        log.info("events: %d reminders", len(created))
    if (created or imported) and job.sender is not None:
        job.sender.wake()
    return created


async def poll_calendars(job: EventJob) -> int:
    """Import the calendars whose time has come; returns how many events were new or changed."""
    async with job.db.transaction() as session:
        due = [
            (source.id, source.url)
            for source in await event_ics.due_sources(
                session, job.clock(), job.calendar_every, job.failures
            )
        ]
    if not due:
        return 0
    touched = 0
    async with event_ics.calendar_fetcher(job.client) as fetcher:
        for source_id, url in due:
            report = await poll_calendar(job, fetcher, source_id, url)
            if report is not None:
                touched += report.created + report.changed + report.cancelled
    return touched


async def poll_calendar(
    job: EventJob, fetcher: FeedFetcher, source_id: int, url: str
) -> event_ics.ImportReport | None:
    """Fetch outside any transaction (conditionally); import (or record the error) in one."""
    etag, last_modified = job.validators.get(source_id, (None, None))
    result = await fetcher.fetch(url, etag=etag, last_modified=last_modified)
    data, error, report = None, None, None
    try:
        data = event_ics.fetched_calendar(result)
    except event_ics.CalendarError as failure:
        error = str(failure)
    async with job.db.transaction() as session:
        source = await session.get(EventSource, source_id)
        if source is None:
            return None  # removed meanwhile
        if data is not None:
            try:
                report = await event_ics.import_calendar(session, data, job.clock(), source)
            except event_ics.CalendarError as failure:
                error = str(failure)
        if error is None:
            await event_ics.follow_move(session, source, result)
        event_ics.record_poll(source, job.clock(), error)
    if error:
        job.failures[source_id] = job.failures.get(source_id, 0) + 1
        job.validators.pop(source_id, None)
        log.warning("calendar %s: %s", url, error)
    else:
        job.failures.pop(source_id, None)
        job.validators[source_id] = (result.etag, result.last_modified)
    return report
