"""Which Telegram messages a batch of claimed deliveries becomes. Pure."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import zip_longest

from bot.services.outbox import Claimed


@dataclass(frozen=True)
class Job:
    """One Telegram message for one chat, carrying one or more deliveries."""

    chat_id: int
    subscriber_id: int
    language: str
    deliveries: tuple[Claimed, ...]
    grouped: bool
    digest: bool

    @property
    def attempts(self) -> int:
        return max(d.attempts for d in self.deliveries)


def plan_jobs(claimed: list[Claimed], *, group_above: int) -> list[Job]:
    """Digests become one message; more than `group_above` items at once become one too.

    Jobs are interleaved across recipients so one person's messages are spread out in time.
    """
    by_subscriber: dict[int, list[Claimed]] = defaultdict(list)
    for item in claimed:
        by_subscriber[item.subscriber_id].append(item)
    per_recipient: list[list[Job]] = []
    for items in by_subscriber.values():
        per_recipient.append(_jobs_for(items, group_above))
    return [job for round_ in zip_longest(*per_recipient) for job in round_ if job is not None]


def _jobs_for(items: list[Claimed], group_above: int) -> list[Job]:
    first = items[0]
    held = tuple(item for item in items if item.held)
    instant = tuple(item for item in items if not item.held)

    def job(deliveries: tuple[Claimed, ...], grouped: bool, digest: bool) -> Job:
        return Job(first.chat_id, first.subscriber_id, first.language, deliveries, grouped, digest)

    jobs = []
    if held:
        jobs.append(job(held, grouped=True, digest=True))
    if len(instant) > group_above:
        jobs.append(job(instant, grouped=True, digest=False))
    else:
        jobs.extend(job((item,), grouped=False, digest=False) for item in instant)
    return jobs
