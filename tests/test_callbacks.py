"""Callback data: every button fits Telegram's 64 bytes and parses back to the same action."""

import logging

import pytest

from bot import callbacks
from bot.callbacks import (
    CancelScheduled,
    ChooseLanguage,
    ChooseSubject,
    ConfirmForget,
    ConfirmStop,
    Consent,
    EditProfile,
    EventButton,
    EventChoice,
    Feedback,
    FeedbackItem,
    FeedbackMenu,
    InvalidCallback,
    OpenFeedbackMenu,
    OpenScreen,
    ProfileField,
    Reaction,
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


# Every id a button carries is an Integer column: 32-bit on PostgreSQL, and SQLite refuses
# anything beyond 64 bits. Forged numbers past that never reach SQL.
LARGEST_ID = 2**31 - 1
HUGE = "99999999999999999999999999"
FORGED_NUMBERS = [
    f"fb:{HUGE}:u",
    f"fb:{LARGEST_ID + 1}:n",
    f"fbi:{HUGE}",
    f"fbi:{LARGEST_ID + 1}",
    f"cn:y:{HUGE}",
    f"cn:y:{LARGEST_ID + 1}",
    f"ev:{HUGE}:y",
    f"ev:{LARGEST_ID + 1}:i",
    f"bcx:{HUGE}",
    f"bcx:{LARGEST_ID + 1}",
    "fb:0:u",
    "fb:-1:u",
    "fb:+1:u",
    "fb:٣:u",  # a digit, but not an ASCII one
    "ev:²:y",
]


@pytest.mark.parametrize("data", FORGED_NUMBERS)
def test_ids_that_do_not_fit_the_database_are_rejected(data):
    with pytest.raises(InvalidCallback):
        callbacks.parse(data)


def test_the_largest_database_id_still_parses():
    assert callbacks.parse(f"fb:{LARGEST_ID}:u") == Feedback(LARGEST_ID, Reaction.USEFUL)
    assert callbacks.parse(f"fbi:{LARGEST_ID}") == FeedbackItem(LARGEST_ID)
    assert callbacks.parse(f"cn:y:{LARGEST_ID}") == Consent(True, LARGEST_ID)
    assert callbacks.parse(f"ev:{LARGEST_ID}:m") == EventButton(LARGEST_ID, EventChoice.MAYBE)
    assert callbacks.parse(f"bcx:{LARGEST_ID}") == CancelScheduled(LARGEST_ID)


# Through the stand-in: every prefix the codec knows, with numbers past 64 bits where it carries
# an id or a value. Each press is answered, nothing raises, nothing changes.
FORGED_PRESSES = [
    f"f:s:{HUGE}:s",
    f"u:c:{HUGE}:z",
    f"menu:{HUGE}",
    f"zone:{HUGE}",
    f"lang:{HUGE}",
    f"stop:{HUGE}",
    f"fb:{HUGE}:u",
    f"fb:{HUGE}:c",
    f"fb:{LARGEST_ID + 1}:n",
    f"fbi:{HUGE}",
    f"fbi:{LARGEST_ID + 1}",
    f"pref:hour:{HUGE}",
    f"pref:day:{HUGE}",
    f"pref:quiet:{HUGE}-{HUGE}",
    f"cn:y:{HUGE}",
    f"cn:y:{LARGEST_ID + 1}",
    f"cn:{HUGE}",
    f"fbm:{HUGE}",
    f"fbs:s:{HUGE}",
    f"fbs:a:{HUGE}",
    f"pf:cat:{HUGE}",
    f"pf:{HUGE}",
    f"fg:{HUGE}",
    f"pl:s:{HUGE}",
    f"pl:a:{HUGE}",
    f"pl:f:{HUGE}",
    f"pl:u:{HUGE}",
    f"pl:{HUGE}",
    f"ev:{HUGE}:y",
    f"ev:{LARGEST_ID + 1}:i",
    f"bc:0123456789abcdef:pc:{HUGE}",
    f"bc:0123456789abcdef:s:{HUGE}",
    f"bc:{HUGE[:16]}:go",
    f"bcx:{HUGE}",
    f"bcx:{LARGEST_ID + 1}",
]


@pytest.mark.parametrize("data", FORGED_PRESSES)
async def test_forged_numbers_get_an_answer_and_never_an_error(running_bot, sandbox, data, caplog):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    with caplog.at_level(logging.WARNING):
        await anna.press_data(data, message_id=anna.last_bot_message.message_id)
    assert [answer.data for answer in anna.callback_answers] == [data]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "storto" not in anna.last_bot_message.text
