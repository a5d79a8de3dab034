"""Subscribers over time: the anonymous join/leave history and the series drawn from it."""

from __future__ import annotations

import csv
import dataclasses
import io
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.db.models import AudienceChange
from bot.services import privacy, statistics, subscriptions
from bot.services.statistics import AudiencePoint, Statistics, audience_series
from tests.conftest import eventually

ADMIN = 4242


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def csv_rows(stats: Statistics) -> list[list[str]]:
    return list(csv.reader(io.StringIO(statistics.to_csv(stats).decode("utf-8-sig"))))


# --- the series, pure ---------------------------------------------------------------------


def test_no_history_means_no_periods():
    assert audience_series([], utc(2026, 3, 1)) == []


def test_a_change_at_2330_utc_on_new_years_eve_counts_on_new_years_day_in_rome():
    changes = [(utc(2025, 12, 31, 22, 59), +1), (utc(2025, 12, 31, 23, 30), +1)]
    assert audience_series(changes, utc(2026, 1, 1, 12)) == [
        AudiencePoint("2025-12-31", total=1, joined=1, left=0),
        AudiencePoint("2026-01-01", total=2, joined=1, left=0),
    ]


def test_short_histories_go_by_day_with_empty_days_carrying_the_total():
    changes = [
        (utc(2026, 3, 2, 8), +1),
        (utc(2026, 3, 2, 9), +1),
        (utc(2026, 3, 2, 10), +1),
        (utc(2026, 3, 4, 8), -1),
        (utc(2026, 3, 4, 9), +1),
    ]
    assert audience_series(changes, utc(2026, 3, 6, 12)) == [
        AudiencePoint("2026-03-02", total=3, joined=3, left=0),
        AudiencePoint("2026-03-03", total=3, joined=0, left=0),
        AudiencePoint("2026-03-04", total=3, joined=1, left=1),
        AudiencePoint("2026-03-05", total=3, joined=0, left=0),
        AudiencePoint("2026-03-06", total=3, joined=0, left=0),  # today, nothing happened yet
    ]


def test_up_to_92_calendar_days_go_by_day_and_longer_histories_by_month():
    first = utc(2026, 1, 1, 12)
    by_day = audience_series([(first, +1)], first + timedelta(days=91))
    assert len(by_day) == 92
    assert (by_day[0].period, by_day[-1].period) == ("2026-01-01", "2026-04-02")
    by_month = audience_series([(first, +1)], first + timedelta(days=92))
    assert [point.period for point in by_month] == ["2026-01", "2026-02", "2026-03", "2026-04"]


def test_months_without_changes_are_filled_across_the_new_year():
    changes = [
        (utc(2025, 11, 10), +1),
        (utc(2025, 11, 20), +1),
        (utc(2025, 12, 31, 23, 30), -1),  # 1 January in Rome
        (utc(2026, 3, 5), +1),
        (utc(2026, 3, 6), -1),
    ]
    assert audience_series(changes, utc(2026, 3, 10)) == [
        AudiencePoint("2025-11", total=2, joined=2, left=0),
        AudiencePoint("2025-12", total=2, joined=0, left=0),
        AudiencePoint("2026-01", total=1, joined=0, left=1),
        AudiencePoint("2026-02", total=1, joined=0, left=0),
        AudiencePoint("2026-03", total=1, joined=1, left=1),
    ]


def test_recent_changes_count_only_the_last_30_days():
    now = utc(2026, 3, 31, 12)
    changes = [
        (now - timedelta(days=30, seconds=1), +1),  # just too old
        (now - timedelta(days=29), +1),
        (now - timedelta(days=2), -1),
        (now - timedelta(hours=1), +1),
    ]
    assert statistics.recent_changes(changes, now) == (2, 1)


def test_the_csv_has_totals_joined_and_left_per_period():
    stats = Statistics(
        audience=[
            AudiencePoint("2026-03-02", total=3, joined=3, left=0),
            AudiencePoint("2026-03-03", total=2, joined=0, left=1),
        ]
    )
    rows = csv_rows(stats)
    assert rows[0] == ["section", "key", "value"]
    assert rows[1:7] == [
        ["subscribers_over_time", "2026-03-02", "3"],
        ["subscribers_over_time", "2026-03-03", "2"],
        ["subscribers_joined", "2026-03-02", "3"],
        ["subscribers_joined", "2026-03-03", "0"],
        ["subscribers_left", "2026-03-02", "0"],
        ["subscribers_left", "2026-03-03", "1"],
    ]


# --- recording the history ------------------------------------------------------------------


async def history(db) -> list[tuple[int, str]]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(AudienceChange.delta, AudienceChange.reason).order_by(AudienceChange.id)
        )
        return [tuple(row) for row in rows.all()]


async def come(session, user_id: int):
    subscriber, _created = await subscriptions.get_or_create_subscriber(
        session, telegram_user_id=user_id, chat_id=user_id, first_name="U", language="it"
    )
    return subscriber


async def test_each_change_of_reachability_is_recorded_once(db):
    async with db.transaction() as session:
        anna = await come(session, 1)
        await come(session, 1)  # already active: nothing happens
    async with db.transaction() as session:
        assert await subscriptions.mark_blocked(session, 1)
        assert await subscriptions.mark_blocked(session, 1)  # told twice
        await subscriptions.deactivate(session, anna.id)  # and by a 403
    async with db.transaction() as session:
        assert await subscriptions.mark_unblocked(session, 1)
        assert await subscriptions.mark_unblocked(session, 1)
        await come(session, 1)
    async with db.transaction() as session:
        await subscriptions.deactivate(session, anna.id)
    async with db.transaction() as session:
        await come(session, 1)  # back with a message
    assert await history(db) == [
        (1, "joined"),
        (-1, "blocked"),
        (1, "returned"),
        (-1, "blocked"),
        (1, "returned"),
    ]


async def test_forget_records_a_departure_only_for_a_reachable_subscriber(db):
    async with db.transaction() as session:
        await privacy.forget(session, await come(session, 1))
    async with db.transaction() as session:
        await come(session, 2)
        await subscriptions.mark_blocked(session, 2)
    async with db.transaction() as session:
        ben = await subscriptions.get_subscriber(session, 2)
        await privacy.forget(session, ben)  # already counted as gone when he blocked the bot
    assert await history(db) == [(1, "joined"), (-1, "forgotten"), (1, "joined"), (-1, "blocked")]


class Backdating:
    """Places the changes recorded since the last call at a chosen moment, as if made then."""

    def __init__(self, db) -> None:
        self.db = db
        self.last_id = 0

    async def at(self, moment: datetime) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(AudienceChange)
                .where(AudienceChange.id > self.last_id)
                .values(occurred_at=moment)
            )
            self.last_id = await session.scalar(select(func.max(AudienceChange.id)))


async def test_the_series_shows_the_reachable_subscribers_at_the_end_of_each_day(db):
    # Anna and Ben join on 2 March; Anna blocks the bot on the 3rd, near midnight in Rome,
    # and comes back on the 4th; Ben erases his data on the 5th; on the 6th nothing happens.
    recorded = Backdating(db)
    async with db.transaction() as session:
        await come(session, 1)
        await come(session, 2)
    await recorded.at(utc(2026, 3, 2, 9))
    async with db.transaction() as session:
        await subscriptions.mark_blocked(session, 1)
    await recorded.at(utc(2026, 3, 3, 22, 30))  # 23:30 in Rome
    async with db.transaction() as session:
        await subscriptions.mark_unblocked(session, 1)
    await recorded.at(utc(2026, 3, 3, 23, 30))  # 00:30 on the 4th in Rome
    async with db.transaction() as session:
        await privacy.forget(session, await subscriptions.get_subscriber(session, 2))
    await recorded.at(utc(2026, 3, 5, 15))

    async with db.transaction() as session:
        stats = await statistics.compute(session, now=utc(2026, 3, 6, 10))
    assert stats.audience == [
        AudiencePoint("2026-03-02", total=2, joined=2, left=0),
        AudiencePoint("2026-03-03", total=1, joined=0, left=1),
        AudiencePoint("2026-03-04", total=2, joined=1, left=0),
        AudiencePoint("2026-03-05", total=1, joined=0, left=1),
        AudiencePoint("2026-03-06", total=1, joined=0, left=0),
    ]
    assert stats.audience[-1].total == stats.active_subscribers == 1
    assert (stats.joined_recently, stats.left_recently) == (3, 2)
    rows = csv_rows(stats)
    assert ["subscribers_over_time", "2026-03-03", "1"] in rows
    assert ["subscribers_joined", "2026-03-04", "1"] in rows
    assert ["subscribers_left", "2026-03-05", "1"] in rows


async def test_the_history_keeps_utc_times_and_splits_days_in_rome_time(db):
    async with db.transaction() as session:
        session.add(AudienceChange(occurred_at=utc(2025, 12, 31, 22, 59), delta=1, reason="joined"))
        session.add(AudienceChange(occurred_at=utc(2025, 12, 31, 23, 30), delta=1, reason="joined"))
    async with db.transaction() as session:
        assert await session.scalar(select(func.max(AudienceChange.occurred_at))) == utc(
            2025, 12, 31, 23, 30
        )
        stats = await statistics.compute(session, now=utc(2026, 1, 1, 9))
    assert [(p.period, p.total) for p in stats.audience] == [("2025-12-31", 1), ("2026-01-01", 2)]


# --- end to end -----------------------------------------------------------------------------


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


async def test_a_block_a_return_and_a_forget_reach_the_staff_statistics(sandbox, running_bot, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="en")
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await anna.send("/start")
    await ben.send("/start")
    anna.block()
    assert await eventually(lambda: _reasons_include(db, "blocked"))
    anna.unblock()
    assert await eventually(lambda: _reasons_include(db, "returned"))
    await anna.send("/start")  # already back: not a second return
    await ben.send("/forget")
    await ben.press("Yes, erase my data")

    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/stats", settle=1.0)
    assert "Last 30 days: 4 joined or returned, 2 left" in admin.bot_messages[0].text
    assert "Active subscribers: 2" in admin.bot_messages[0].text  # Anna and the admin
    rows = csv_rows_of(admin.bot_messages[-1].file_bytes)
    totals = [int(value) for section, _day, value in rows if section == "subscribers_over_time"]
    joined = sum(int(v) for section, _day, v in rows if section == "subscribers_joined")
    left = sum(int(v) for section, _day, v in rows if section == "subscribers_left")
    assert (totals[-1], joined, left) == (2, 4, 2)
    assert await history(db) == [
        (1, "joined"),
        (1, "joined"),
        (-1, "blocked"),
        (1, "returned"),
        (-1, "forgotten"),
        (1, "joined"),
    ]


async def _reasons_include(db, reason: str) -> bool:
    return any(recorded == reason for _delta, recorded in await history(db))


def csv_rows_of(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


# --- the series summed in SQL ---------------------------------------------------------------


def random_history(rng: random.Random, start: datetime, days: int) -> list[tuple[datetime, int]]:
    """Changes at random moments, many of them close to midnight in Rome (22:00 and 23:00
    UTC) or to the clock changes (01:00 UTC)."""
    changes = []
    for _ in range(300):
        moment = start + timedelta(days=rng.randrange(days))
        moment = moment.replace(
            hour=rng.choice([0, 1, 21, 22, 23, rng.randrange(24)]),
            minute=rng.choice([0, 59, rng.randrange(60)]),
            second=rng.choice([0, 59]),
            microsecond=rng.choice([0, 999_999]),
        )
        changes.append((moment, rng.choice([1, 1, -1])))
    return changes


@pytest.mark.parametrize("days", [40, 700])  # shown by day, by month
async def test_the_history_summed_in_sql_gives_the_figures_of_the_changes_one_by_one(db, days):
    rng = random.Random(days)
    start = utc(2025, 10, 1)  # the clocks go back on 26 October, forward on 29 March
    now = start + timedelta(days=days, hours=5)
    changes = [
        *random_history(rng, start, days),
        (utc(2025, 10, 25, 21, 59, 59, 999_999), 1),  # 23:59:59 in Rome (CEST)
        (utc(2025, 10, 25, 22), 1),  # midnight in Rome
        (utc(2025, 10, 26, 0, 59, 59), -1),  # 02:59:59 CEST
        (utc(2025, 10, 26, 1), 1),  # 02:00 CET
        (utc(2025, 10, 26, 22, 59, 59), 1),  # 23:59:59 CET
        (utc(2025, 10, 26, 23), -1),
        (now - timedelta(days=statistics.RECENT_DAYS), 1),  # just too old to be recent
        (now - timedelta(days=statistics.RECENT_DAYS, microseconds=-1), 1),
        (now, -1),
    ]
    async with db.transaction() as session:
        session.add_all(
            AudienceChange(occurred_at=moment, delta=delta, reason="joined")
            for moment, delta in changes
        )
    async with db.transaction() as session:
        stats = await statistics.compute(session, now=now)
    assert stats.audience == audience_series(changes, now)
    assert (stats.joined_recently, stats.left_recently) == statistics.recent_changes(changes, now)
