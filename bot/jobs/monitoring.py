"""Polling the plan's monitoring data on PTB's JobQueue (like `bot/jobs/feeds.py` for feeds).

`schedule_monitoring_polling(application, config, sender=sender)`: every
`MONITORING_POLL_INTERVAL` seconds, poll `MONITORING_URL` (conditional GET) and/or the SQL
source, import what changed, and wake the sender when there are notifications.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram.ext import Job

from bot.config import MonitoringSettings
from bot.handlers.context import BotApplication, BotContext
from bot.jobs import Wakeable, job_data
from bot.services.monitoring_remote import PollOutcome, PollStatus, poll_sql, poll_url

log = logging.getLogger(__name__)

MONITORING_POLLING_JOB = "monitoring-polling"


@dataclass
class MonitoringPollingJob:
    config: MonitoringSettings
    sender: Wakeable | None = None


def schedule_monitoring_polling(
    application: BotApplication,
    config: MonitoringSettings,
    *,
    sender: Wakeable | None = None,
    first_s: float = 30.0,
) -> Job | None:
    """Register the repeating job; None when no remote source is configured."""
    if not config.url and not config.sql_url:
        return None
    if application.job_queue is None:
        raise RuntimeError(
            "monitoring polling needs PTB's JobQueue: install python-telegram-bot[job-queue]"
        )
    return application.job_queue.run_repeating(
        poll_monitoring,
        interval=config.poll_interval_s,
        first=first_s,
        name=MONITORING_POLLING_JOB,
        data=MonitoringPollingJob(config, sender),
        job_kwargs={"max_instances": 1, "coalesce": True},
    )


async def poll_monitoring(context: BotContext) -> None:
    job = job_data(context, MonitoringPollingJob)
    outcomes = await poll_sources(context.bot_data.db, job.config)
    notified = sum(len(o.report.notification_ids) for o in outcomes if o.report is not None)
    if notified:
        log.info("monitoring: %d new notifications", notified)
        if job.sender is not None:
            job.sender.wake()


async def poll_sources(db, config: MonitoringSettings) -> list[PollOutcome]:
    """Poll every configured source once; a failing source does not stop the others."""
    outcomes = []
    threshold = config.progress_threshold
    if config.url:
        outcomes.append(await poll_url(db, config.url, threshold=threshold))
    if config.sql_url and config.sql_query:
        outcomes.append(await poll_sql(db, config.sql_url, config.sql_query, threshold=threshold))
    for outcome in outcomes:
        if outcome.status is PollStatus.FAILED:
            log.warning("monitoring poll failed: %s", outcome.error)
    return outcomes
