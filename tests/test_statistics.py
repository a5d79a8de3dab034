"""/stats: figures computed in a service, sent as charts, a summary and a CSV file."""

import csv
import dataclasses
import io

import pytest

from bot import stats_charts
from bot.db.models import TargetKind
from bot.services import statistics, subscriptions
from bot.services.subscriptions import Target

ADMIN = 4242


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


@pytest.fixture
async def followers(db):
    async with db.transaction() as session:
        for user_id, language, target in (
            (1, "it", Target(TargetKind.ZONE, "genova")),
            (2, "en", Target(TargetKind.ZONE, "genova")),
            (3, "it", Target(TargetKind.STRATEGY, "S1")),
        ):
            row, _ = await subscriptions.get_or_create_subscriber(
                session,
                telegram_user_id=user_id,
                chat_id=user_id,
                first_name="U",
                language=language,
            )
            await subscriptions.subscribe(session, row, target)


async def test_figures_by_zone_strategy_language_and_over_time(db, followers):
    async with db.transaction() as session:
        stats = await statistics.compute(session)
    assert dict(stats.by_language) == {"en": 1, "it": 2}
    assert dict(stats.by_strategy)["S1"] == 1
    zones = dict(stats.by_zone)
    assert sum(zones.values()) == 2 and len(zones) == 9
    (today,) = stats.audience  # everyone joined just now
    assert (today.total, today.joined, today.left) == (3, 3, 0)
    assert (stats.joined_recently, stats.left_recently) == (3, 0)
    assert stats.active_subscribers == 3
    rows = list(csv.reader(io.StringIO(statistics.to_csv(stats).decode("utf-8-sig"))))
    assert rows[0] == ["section", "key", "value"]
    assert ["subscribers_over_time", today.period, "3"] in rows
    assert ["subscribers_by_language", "en", "1"] in rows


def test_charts_are_png_images():
    charts = stats_charts.draw(statistics.Statistics())
    assert len(charts) == 6
    assert all(png.startswith(b"\x89PNG") for _name, png in charts)


async def test_staff_get_summary_charts_and_csv(sandbox, running_bot, followers):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/stats", settle=1.0)
    messages = admin.bot_messages
    assert "Active subscribers: 4" in messages[0].text  # the admin too
    assert "Last 30 days: 4 joined or returned, 0 left" in messages[0].text
    assert [m.kind for m in messages[1:7]] == ["photo"] * 6
    document = messages[-1]
    assert document.kind == "document" and document.file_name.endswith(".csv")
    assert b"subscribers_by_zone" in document.file_bytes
