"""/stats: figures computed in a service, sent as charts, a summary and a CSV file."""

import csv
import dataclasses
import io

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

from bot.app import build_sender
from bot.db.models import TargetKind
from bot.i18n import use_locale
from bot.screens import charts as stats_charts
from bot.services import outbox, statistics, subscriptions
from bot.services.subscriptions import Target
from tests.record_helpers import FAST, news

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


async def test_a_person_who_blocked_the_bot_is_counted_once(settings, db, sandbox):
    async with db.transaction() as session:
        row, _ = await subscriptions.get_or_create_subscriber(
            session, telegram_user_id=7, chat_id=7, first_name="U", language="it"
        )
        await subscriptions.subscribe(session, row, Target(TargetKind.ZONE, "genova"))
        for key in ("a", "b", "c"):
            await outbox.enqueue(session, news(key, (TargetKind.ZONE, "genova"), title=key))
    sandbox.user(7, language_code="it").block()
    sender = build_sender(settings, db, base_url=sandbox.base_url, config=FAST)
    async with sender.bot:
        await sender.run_until_idle()
    async with db.transaction() as session:
        stats = await statistics.compute(session)
    assert stats.deliveries["failed"] + stats.deliveries["skipped"] == 3
    assert stats.deliveries["blocked"] == 1


def realistic_statistics() -> statistics.Statistics:
    long_subject = (
        "Incontro pubblico sul Piano urbanistico della Città metropolitana a Chiavari, "
        "Società Economica"
    )
    return statistics.Statistics(
        audience=[statistics.AudiencePoint(f"2026-09-{day:02d}", day, 1, 0) for day in range(1, 8)],
        by_zone=[("Val Trebbia e alta Val Bisagno", 3), ("Genova", 1840), ("Tigullio", 7)],
        by_strategy=[("S1", 4), ("S2", 3)],
        by_language=[("en", 2), ("it", 5)],
        deliveries={"sent": 5, "failed": 3, "skipped": 1, "pending": 1, "held": 1, "blocked": 1},
        feedback_by_subject=[(long_subject, 3), ("Il Piano in generale", 2), ("—", 1)],
    )


def test_charts_count_in_whole_numbers_with_italian_labels_inside_the_picture():
    with use_locale("it"):
        figures = stats_charts.figures(realistic_statistics())
    words = set()
    for name, figure in figures:
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        drawn = figure.get_tightbbox(canvas.get_renderer())  # every title, label and bar
        page = figure.bbox_inches.padded(0.01)
        assert page.contains(drawn.x0, drawn.y0) and page.contains(drawn.x1, drawn.y1), name
        words.update(
            word for text in figure.findobj(Text) for word in text.get_text().split() if word
        )
        over_time = name == "subscribers.png"  # bars are horizontal: counts along x
        for axes in figure.axes:
            counts = axes.yaxis if over_time else axes.xaxis
            assert all(float(tick).is_integer() for tick in counts.get_ticklocs()), name
            for label in [] if over_time else axes.get_yticklabels():
                assert max(map(len, label.get_text().split("\n"))) <= stats_charts.LABEL_WIDTH
    assert {"Italiano", "Inglese", "Inviate", "Non", "riuscite", "Saltate", "attesa"} <= words
    assert not {"it", "en", "sent", "failed", "blocked", "skipped", "pending", "held"} & words


async def test_charts_arrive_as_one_album(sandbox, running_bot, followers):
    admin = sandbox.user(ADMIN, language_code="it")
    await admin.send("/stats", settle=1.0)
    photos = [m for m in admin.bot_messages if m.kind == "photo"]
    assert len(photos) == 6
    (album,) = {m.media_group_id for m in photos}
    assert album is not None
