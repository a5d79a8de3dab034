"""What changed in the monitoring data, and who is told, in their language, through the sender."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from bot.app import build_sender
from bot.db.models import ActionStatus, TargetKind
from bot.delivery.sender import SenderConfig
from bot.delivery.templates.monitoring import notification_html, progress_bar
from bot.i18n import use_locale
from bot.services.monitoring_changes import (
    ChangeKind,
    StoredAction,
    StoredIndicator,
    StoredState,
    detect_changes,
)
from bot.services.monitoring_validate import ActionData, Dataset, MeasurementData, ReviewData
from tests.test_delivery import subscriber
from tests.test_monitoring_import import SAMPLE, UPDATE_CSV, import_files

TODAY = date(2026, 3, 2)
ACTION = ActionData(
    code="S4.1",
    strategy_id="S4",
    title_it="Parco del Tigullio",
    title_en="Tigullio Park",
    description_it=None,
    description_en=None,
    zone_ids=("entella",),
    comuni_istat=("010028",),
    responsible=None,
    status=ActionStatus.IN_PROGRESS,
    progress_pct=50,
    start_date=date(2021, 7, 1),
    end_date=date(2025, 12, 31),
    funding_source="PNRR",
    funding_amount_eur=2_400_000.0,
    links=(),
    sample=True,
)
STORED = StoredAction("S4.1", "in_progress", 50, 50, date(2025, 12, 31))
GREEN_AREA = StoredIndicator("Superficie verde", "Green area", "m²", 0, 30000, 2025, "2024", 16500)
CO2 = StoredIndicator("Emissioni CO₂", "CO₂ emissions", "t/ab", 6.1, 4.0, 2030, "2024", 5.2)


def state(**indicators: StoredIndicator) -> StoredState:
    return StoredState(
        actions={"S4.1": STORED},
        indicators={("S4.1", code): indicator for code, indicator in indicators.items()},
        review_years={2024},
        action_info={"S4.1": ACTION},
        plan_tags=(("strategy", "S4"), ("zone", "entella")),
    )


def changes(*actions: ActionData, measurements=(), reviews=(), stored=None, threshold=10):
    data = Dataset(actions=list(actions), measurements=list(measurements), reviews=list(reviews))
    return detect_changes(data, stored or state(), today=TODAY, threshold=threshold)


def measured(code: str, period: str, value: float) -> MeasurementData:
    return MeasurementData("S4.1", code, period, value, None)


def test_the_same_data_is_no_change():
    assert changes(ACTION) == []


def test_a_status_change_carries_the_progress_and_is_tagged_for_every_follower():
    (change,) = changes(replace(ACTION, status=ActionStatus.DELAYED, progress_pct=70))
    assert change.kind is ChangeKind.STATUS
    assert change.source_key == "monitoring:S4.1:status:delayed:2026-03-02"
    assert (change.payload["old"], change.payload["new"], change.payload["progress"]) == (
        "in_progress",
        "delayed",
        70,
    )
    assert set(change.tags) == {
        ("strategy", "S4"),
        ("zone", "entella"),
        ("comune", "010028"),
        ("action", "S4.1"),
    }


def test_progress_is_told_when_it_moved_by_the_threshold_since_last_told():
    assert changes(replace(ACTION, progress_pct=58)) == []
    # Stored at 58 after a silent step; last told at 50: three more points make ten.
    stepped = state()
    stepped.actions["S4.1"] = replace(STORED, progress_pct=58)
    (change,) = changes(replace(ACTION, progress_pct=61), stored=stepped)
    assert (change.kind, change.payload["old"], change.payload["progress"]) == (
        ChangeKind.PROGRESS,
        50,
        61,
    )
    assert changes(replace(ACTION, progress_pct=58), threshold=5)[0].kind is ChangeKind.PROGRESS


def test_an_end_date_moved_later_is_a_slip_and_earlier_is_not():
    (change,) = changes(replace(ACTION, end_date=date(2026, 6, 30)))
    assert (change.kind, change.payload["old"], change.payload["new"]) == (
        ChangeKind.DATE_SLIPPED,
        "2025-12-31",
        "2026-06-30",
    )
    assert changes(replace(ACTION, end_date=date(2025, 9, 30))) == []


def test_only_the_newest_new_period_is_told_and_a_backfill_is_not():
    found = changes(
        measurements=[measured("I1", "2023", 9000), measured("I1", "2025", 20000)],
        stored=state(I1=GREEN_AREA),
    )
    assert [(c.kind, c.payload["period"], c.payload["previous"]) for c in found] == [
        (ChangeKind.MEASUREMENT, "2025", 16500)
    ]
    assert changes(measurements=[measured("I1", "2022", 1)], stored=state(I1=GREEN_AREA)) == []


def test_reaching_a_target_is_told_once_upwards_and_downwards():
    (up,) = changes(measurements=[measured("I1", "2025", 30500)], stored=state(I1=GREEN_AREA))
    assert (up.kind, up.source_key) == (
        ChangeKind.TARGET_REACHED,
        "monitoring:S4.1:I1:target:30000",
    )
    (down,) = changes(measurements=[measured("I2", "2026", 3.9)], stored=state(I2=CO2))
    assert down.kind is ChangeKind.TARGET_REACHED
    reached = replace(GREEN_AREA, latest_value=31000)
    (again,) = changes(measurements=[measured("I1", "2025", 32000)], stored=state(I1=reached))
    assert again.kind is ChangeKind.MEASUREMENT


def test_a_new_action_is_told_once_without_its_measurements_and_a_new_review_to_everyone():
    new = replace(ACTION, code="S4.9")
    review = ReviewData(2025, date(2025, 6, 20), "Sintesi", None, None, True)
    found = changes(
        new, measurements=[MeasurementData("S4.9", "I1", "2025", 1, None)], reviews=[review]
    )
    assert [c.kind for c in found] == [ChangeKind.NEW_ACTION, ChangeKind.REVIEW]
    assert found[0].source_key == "monitoring:S4.9:new"
    assert found[1].tags == (("strategy", "S4"), ("zone", "entella"))
    assert found[1].payload["summary"] == {"it": "Sintesi", "en": "Sintesi"}


def test_the_progress_bar_has_five_cells():
    assert progress_bar(60) == "▰▰▰▱▱ 60%"
    assert progress_bar(0) == "▱▱▱▱▱ 0%"
    assert progress_bar(50) == "▰▰▰▱▱ 50%"
    assert progress_bar(100) == "▰▰▰▰▰ 100%"


def test_a_status_change_reads_exactly_what_changed_in_each_language():
    (change,) = changes(replace(ACTION, status=ActionStatus.DELAYED, progress_pct=60))
    with use_locale("it"):
        italian = notification_html(change.payload, "it")
    with use_locale("en"):
        english = notification_html(change.payload, "en")
    assert "Lo stato è passato da «<b>in corso</b>» a «<b>in ritardo</b>»." in italian
    assert "Avanzamento: ▰▰▰▱▱ 60%" in italian
    assert "Dati di esempio" in italian
    assert "<b>S4.1 · Tigullio Park</b>" in english
    assert "Status changed from <b>in progress</b> to <b>delayed</b>." in english


# --- end to end: import → outbox → sender → the Bot API stand-in ------------------------------

FAST = SenderConfig(messages_per_second=None, per_chat_interval_s=None, idle_sleep_s=0.05)


@pytest.fixture
def sender(settings, db, sandbox):
    return build_sender(settings, db, base_url=sandbox.base_url, config=FAST)


async def deliver(sender) -> None:
    async with sender.bot:
        await sender.run_until_idle()


def texts(sandbox, user_id: int) -> list[str]:
    return [message.text for message in sandbox.user(user_id).bot_messages]


async def test_each_change_reaches_the_followers_of_its_action_strategy_and_places(
    db, sandbox, sender
):
    await import_files(db, SAMPLE, notify=False)
    await subscriber(db, sandbox, 1, (TargetKind.ACTION, "S4.1"))
    await subscriber(db, sandbox, 2, (TargetKind.STRATEGY, "S4"))
    await subscriber(db, sandbox, 3, (TargetKind.ZONE, "entella"))
    await subscriber(db, sandbox, 4, (TargetKind.COMUNE, "010028"))  # Lavagna
    await subscriber(db, sandbox, 5, (TargetKind.ZONE, "tigullio"))
    await subscriber(db, sandbox, 6, (TargetKind.ACTION, "S2.1"), language="en")
    await subscriber(db, sandbox, 7)
    await import_files(db, UPDATE_CSV)
    await deliver(sender)

    action_follower = texts(sandbox, 1)
    assert len(action_follower) == 3
    status, slipped, target = (
        next(text for text in action_follower if icon in text) for icon in ("🟠", "⏳", "🎯")
    )
    assert "Lo stato è passato da «in corso» a «in ritardo»." in status
    assert "Avanzamento: ▰▰▰▱▱ 55%" in status
    assert "La fine prevista è slittata dal 31 dic 2025 al 30 giu 2026." in slipped
    assert "Obiettivo raggiunto: «Superficie verde riqualificata» vale 31.000 m² per il 2025." in (
        target
    )
    assert all("Dettagli: /piano S4.1" in text for text in action_follower)

    # Four updates at once for the same person arrive as one grouped message.
    for user_id in (2, 3, 4):
        (grouped,) = texts(sandbox, user_id)
        assert "4 nuovi aggiornamenti" in grouped
        assert "S4.1 ora in ritardo: Parco del Tigullio" in (grouped)
        assert "Revisione annuale 2025 del Piano" in grouped

    (review,) = texts(sandbox, 5)
    assert "È stata pubblicata la revisione annuale 2025 del Piano" in review
    assert "Revisione annuale 2025 (dati di esempio)." in review

    english = sorted(texts(sandbox, 6))
    assert len(english) == 2
    assert "Progress moved from 60% to 75%." in english[0]
    assert (
        "New value of “People working in the technology park” for 2025: 5,200 addetti"
        in (english[1])
    )
    assert "Before: 4,700 addetti (2024)" in english[1]
    assert "Target: 6,000 addetti by 2027" in english[1]
    assert texts(sandbox, 7) == []


async def test_importing_the_same_update_again_sends_nothing_more(db, sandbox, sender):
    await import_files(db, SAMPLE, notify=False)
    await subscriber(db, sandbox, 1, (TargetKind.ACTION, "S4.1"))
    await import_files(db, UPDATE_CSV)
    await deliver(sender)
    assert len(texts(sandbox, 1)) == 3
    report = await import_files(db, UPDATE_CSV)
    assert report.notification_ids == []
    await deliver(sender)
    assert len(texts(sandbox, 1)) == 3


async def test_a_new_action_is_announced_with_its_status_and_funding(db, sandbox, sender):
    await import_files(db, SAMPLE, notify=False)
    await subscriber(db, sandbox, 1, (TargetKind.STRATEGY, "S5"))
    await import_files(db, UPDATE_CSV)
    await deliver(sender)
    announcement, review = sorted(texts(sandbox, 1))  # the strategy's followers get the review
    assert "revisione annuale 2025" in review
    assert "🆕 Nuova azione del Piano (strategia S5):" in announcement
    assert "S5.2 · Portale open data del monitoraggio" in announcement
    assert "Stato: pianificata" in announcement
    assert "Fine prevista: 31 dic 2026" in announcement
    assert "Finanziamento: PON Metro · 90.000\xa0€" in announcement
