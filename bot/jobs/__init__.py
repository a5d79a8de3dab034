"""Repeating jobs of the running bot, on PTB's JobQueue (APScheduler underneath).

- `feeds`: poll the feeds whose time has come, tell the administrators about paused feeds;
- `events`: due event reminders and iCalendar sources by URL;
- `monitoring`: poll the plan's monitoring data (URL and/or SQL source).

Each job wakes the sender when it has queued notifications.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.handlers.context import BotApplication, BotContext
    from bot.metrics import Metrics

_Data = TypeVar("_Data")


class Wakeable(Protocol):
    def wake(self) -> None: ...


def job_data(context: BotContext, kind: type[_Data]) -> _Data:
    """What the running job was scheduled with (`data=` of `run_repeating`)."""
    job = context.job
    if job is None or not isinstance(job.data, kind):
        raise RuntimeError(f"this callback runs as a job scheduled with a {kind.__name__}")
    return job.data


def schedule_all(
    application: BotApplication, settings: Settings, sender: Wakeable, metrics: Metrics
) -> None:
    """Register every repeating job of a sending process; call after `build_application`."""
    # Imported here: the job modules import `Wakeable` from this package.
    from bot.jobs.events import schedule_event_reminders
    from bot.jobs.feeds import schedule_feed_polling
    from bot.jobs.monitoring import schedule_monitoring_polling

    schedule_feed_polling(application, sender=sender, metrics=metrics)
    schedule_monitoring_polling(application, settings.monitoring, sender=sender)
    schedule_event_reminders(application, sender=sender)
