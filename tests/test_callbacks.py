"""Callback data: every button fits Telegram's 64 bytes and parses back to the same action."""

import pytest

from bot import callbacks
from bot.callbacks import (
    ChooseLanguage,
    ChooseSubject,
    ConfirmForget,
    ConfirmStop,
    Consent,
    EditProfile,
    FeedbackMenu,
    InvalidCallback,
    OpenFeedbackMenu,
    OpenScreen,
    ProfileField,
    Screen,
    Toggle,
)
from bot.db.models import TargetKind
from bot.services import plan


def all_real_toggles():
    data = plan.load_plan()
    targets = [(TargetKind.STRATEGY, s["id"]) for s in data.strategies]
    targets += [(TargetKind.ZONE, z["id"]) for z in data.zones]
    targets += [(TargetKind.COMUNE, c["istat"]) for c in data.comuni]
    for kind, target_id in targets:
        for follow in (True, False):
            for screen in (Screen.STRATEGIES, Screen.ZONE, Screen.MY_SUBSCRIPTIONS):
                yield Toggle(follow, kind, target_id, screen)


def test_every_toggle_of_the_real_plan_fits_and_round_trips():
    for action in all_real_toggles():
        data = callbacks.toggle_data(action.follow, action.kind, action.target_id, action.screen)
        assert len(data.encode()) <= 64
        assert callbacks.parse(data) == action


def test_other_buttons_round_trip():
    assert callbacks.parse(callbacks.open_data(Screen.ZONES)) == OpenScreen(Screen.ZONES)
    assert callbacks.parse(callbacks.open_data(Screen.ZONE, "tigullio")) == OpenScreen(
        Screen.ZONE, "tigullio"
    )
    assert callbacks.parse(callbacks.language_data("en")) == ChooseLanguage("en")
    assert callbacks.parse(callbacks.stop_data(True)) == ConfirmStop(True)
    assert callbacks.parse(callbacks.stop_data(False)) == ConfirmStop(False)


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "f",
        "f:s",
        "f:x:S1:s",
        "f:s::s",
        "f:s:S1:nowhere",
        "menu:z",
        "zone:",
        "lang:de",
        "stop:maybe",
        "u:s:S1:s:extra",
        "💥",
    ],
)
def test_forged_or_stale_data_is_rejected(data):
    with pytest.raises(InvalidCallback):
        callbacks.parse(data)


def test_data_that_would_not_fit_is_refused_when_built():
    with pytest.raises(ValueError, match="64 bytes"):
        callbacks.toggle_data(True, TargetKind.ZONE, "z" * 80, Screen.ZONE)


def test_participation_buttons_round_trip():
    cases = {
        callbacks.consent_data(True): Consent(True),
        callbacks.consent_data(True, 123456789): Consent(True, 123456789),
        callbacks.consent_data(False, 5): Consent(False),
        callbacks.feedback_menu_data(FeedbackMenu.ZONES): OpenFeedbackMenu(FeedbackMenu.ZONES),
        callbacks.subject_data("strategy", "S1"): ChooseSubject("strategy", "S1"),
        callbacks.subject_data("action", "A-1.2"): ChooseSubject("action", "A-1.2"),
        callbacks.profile_data(ProfileField.CATEGORY, "third_sector"): EditProfile(
            ProfileField.CATEGORY, "third_sector"
        ),
        callbacks.profile_data(ProfileField.COMUNE): EditProfile(ProfileField.COMUNE),
        callbacks.forget_data(True): ConfirmForget(True),
        callbacks.forget_data(False): ConfirmForget(False),
    }
    for data, action in cases.items():
        assert len(data.encode()) <= 64
        assert callbacks.parse(data) == action


@pytest.mark.parametrize(
    "data",
    [
        "cn:y:x",
        "cn:n:1",
        "cn:y:1:2",
        "fbm:q",
        "fbs:s:",
        "fbs:q:S1",
        "pf:cat:king",
        "pf:org:x",
        "fg:maybe",
    ],
)
def test_forged_participation_data_is_rejected(data):
    with pytest.raises(InvalidCallback):
        callbacks.parse(data)
