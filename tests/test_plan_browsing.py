"""/piano in Telegram: strategies → actions → action card, search, following an action."""

from __future__ import annotations

import pytest

from bot.db.models import TargetKind
from tests.test_citizen_flow import followed, labels
from tests.test_monitoring_import import SAMPLE, import_files

pytestmark = pytest.mark.usefixtures("running_bot")


@pytest.fixture(autouse=True)
async def sample_data(db):
    await import_files(db, SAMPLE, notify=False)


async def test_browse_from_the_strategies_to_an_action_card_and_follow_it(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/piano")
    assert "Le azioni del Piano" in anna.last_bot_message.text
    assert "S4 · Adattarci ai cambiamenti climatici (3)" in labels(anna.last_bot_message)

    await anna.press("S4 · Adattarci ai cambiamenti climatici (3)")
    assert "3 azioni: toccane una per aprirne la scheda." in anna.last_bot_message.text
    await anna.press("🔵 S4.1 · Parco del Tigullio: modello di sp… 50%")
    card = anna.last_bot_message.text
    assert "S4.1 · Parco del Tigullio: modello di spazio urbano sostenibile" in card
    assert "\nS4 · Adattarci ai cambiamenti climatici\n" in card
    assert "Stato: in corso" in card
    assert "Avanzamento: ▰▰▰▱▱ 50%" in card
    assert "Date: dal 1 lug 2021 al 31 dic 2025" in card
    assert "Comuni: Lavagna" in card
    assert "Finanziamento: PNRR · 2.400.000\xa0€" in card
    assert (
        "• Superficie verde riqualificata: 16.500 m² (2024) · obiettivo 30.000 m² entro il 2025"
        in card
    )
    assert "▰▰▰▱▱ 55%" in card  # 16,500 of 30,000 from a baseline of 0
    assert "Dati di esempio, solo a scopo dimostrativo." in card

    await anna.press("🔔 Segui questa azione")
    assert anna.callback_answers[-1].text == (
        "Ora segui: S4.1 · Parco del Tigullio: modello di spazio urbano sostenibile"
    )
    assert "🔕 Smetti di seguire" in labels(anna.last_bot_message)
    assert await followed(db, 1001, TargetKind.ACTION) == {"S4.1"}

    await anna.send("/mysubs")
    assert "Azioni del Piano" in anna.last_bot_message.text
    assert "S4.1 · Parco del Tigullio" in anna.last_bot_message.text

    await anna.send("/piano S4.1")
    await anna.press("🔕 Smetti di seguire")
    assert await followed(db, 1001, TargetKind.ACTION) == set()
    assert "🔔 Segui questa azione" in labels(anna.last_bot_message)


async def test_search_by_comune_or_keyword_in_english(sandbox):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await ben.send("/plan Rapallo")
    found = labels(ben.last_bot_message)
    assert "actions found for “Rapallo”" in ben.last_bot_message.text
    assert any(label.startswith("⏸ S4.3 · Network of sustainability") for label in found)
    assert not any("S2.1" in label for label in found)  # Genova only

    await ben.send("/plan mobility lanes")
    assert labels(ben.last_bot_message)[0].startswith("🔵 S3.2 · Metropolitan sustainable")
    await ben.press(labels(ben.last_bot_message)[0])
    card = ben.last_bot_message.text
    assert "Status: in progress" in card
    assert "Dates: from Jan 1, 2021 to Dec 31, 2026" in card
    assert "Funding: PNRR · €18,000,000" in card
    assert "Kilometres of metropolitan cycle lanes: 23 km (2024) · target 40 km by 2026" in card

    await ben.send("/plan zzzz")
    assert "No action found for “zzzz”." in ben.last_bot_message.text


async def test_forged_or_stale_plan_buttons_get_a_polite_answer(sandbox):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/piano")
    await anna.press_data("pl:a:../../etc")
    assert anna.callback_answers[-1].show_alert
    await anna.press_data("pl:a:S9.99")
    assert anna.callback_answers[-1].text == "Questa voce non esiste più."
    await anna.press_data("pl:f:S9.99")
    assert anna.callback_answers[-1].text == "Questa voce non esiste più."
