"""Callback data carried by inline buttons: short, parseable, at most 64 bytes.

Buttons only say *what* to do; who presses is taken from the update, so forged data
can never act on someone else's subscriptions.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from bot.config import SUPPORTED_LANGUAGES
from bot.db.models import StakeholderCategory, TargetKind

MAX_CALLBACK_BYTES = 64
# Ids in callback data are Integer primary keys: 32-bit signed on PostgreSQL.
LARGEST_DATABASE_ID = 2**31 - 1

_KIND_CODES = {
    TargetKind.STRATEGY: "s",
    TargetKind.ZONE: "z",
    TargetKind.COMUNE: "c",
    TargetKind.ACTION: "a",
}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


class Screen(enum.StrEnum):
    """Where a toggle was pressed, so the same screen is drawn again."""

    MAIN = "main"
    STRATEGIES = "s"
    ZONES = "zones"
    ZONE = "z"
    MY_SUBSCRIPTIONS = "m"
    PREFERENCES = "p"


class InvalidCallback(ValueError):
    """Callback data that this bot never produced (stale format or forged)."""


@dataclass(frozen=True)
class Toggle:
    follow: bool
    kind: TargetKind
    target_id: str
    screen: Screen


@dataclass(frozen=True)
class OpenScreen:
    screen: Screen
    zone_id: str | None = None


@dataclass(frozen=True)
class ChooseLanguage:
    language: str


@dataclass(frozen=True)
class ConfirmStop:
    confirmed: bool


class Reaction(enum.StrEnum):
    USEFUL = "u"
    NOT_USEFUL = "n"
    COMMENT = "c"


@dataclass(frozen=True)
class Feedback:
    """A reaction to a delivered notification; the handler checks the delivery is the presser's."""

    delivery_id: int
    reaction: Reaction


@dataclass(frozen=True)
class FeedbackItem:
    """One item of a grouped message or digest, chosen to be rated or commented on."""

    delivery_id: int


@dataclass(frozen=True)
class SetPreference:
    """A delivery preference: mode (instant/daily/weekly), hour, day, or quiet hours."""

    name: str
    value: str


PREFERENCE_NAMES = ("mode", "hour", "day", "quiet")


@dataclass(frozen=True)
class Consent:
    """Consent to the participation record, given or refused; then continue with a question."""

    given: bool
    prompt_id: int | None = None


class FeedbackMenu(enum.StrEnum):
    ROOT = "r"
    STRATEGIES = "s"
    ZONES = "z"


@dataclass(frozen=True)
class OpenFeedbackMenu:
    menu: FeedbackMenu


# Subjects of /feedback: kind + id, so the plan's actions plug in with the monitoring data.
_SUBJECT_CODES = {"strategy": "s", "zone": "z", "comune": "c", "action": "a", "plan": "p"}
_CODE_SUBJECTS = {code: kind for kind, code in _SUBJECT_CODES.items()}


@dataclass(frozen=True)
class ChooseSubject:
    kind: str
    subject_id: str


class ProfileField(enum.StrEnum):
    CATEGORY = "cat"
    ORGANISATION = "org"
    COMUNE = "com"
    MENU = "menu"


@dataclass(frozen=True)
class EditProfile:
    field: ProfileField
    value: str | None = None


@dataclass(frozen=True)
class ConfirmForget:
    confirmed: bool


# The plan's monitoring (/piano): a strategy's actions, an action's card, following an action.
_ACTION_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


@dataclass(frozen=True)
class OpenPlan:
    """The strategies (neither set), one strategy's actions, or one action's card."""

    strategy_id: str | None = None
    action_code: str | None = None


@dataclass(frozen=True)
class FollowAction:
    follow: bool
    action_code: str


# The plan's events: an answer (attend / maybe / no) or the event's calendar file.
class EventChoice(enum.StrEnum):
    YES = "y"
    MAYBE = "m"
    NO = "n"
    CALENDAR_FILE = "i"


@dataclass(frozen=True)
class EventButton:
    event_id: int
    choice: EventChoice


# Staff broadcast wizard: `bc:<draft token>:<step>[:<value>]`; a scheduled one's cancel button.
_TOKEN = re.compile(r"^[0-9a-f]{8,16}$")
# e everyone, s/z/c/a strategy/zone/comune/action, k category, l language; pc/pa/pk/back pages
BROADCAST_STEPS = (
    "e",
    "s",
    "z",
    "c",
    "a",
    "k",
    "l",
    "pc",
    "pa",
    "pk",
    "back",
    "ok",
    "now",
    "at",
    "go",
    "x",
)


@dataclass(frozen=True)
class BroadcastButton:
    token: str
    step: str
    value: str | None = None


@dataclass(frozen=True)
class CancelScheduled:
    notification_id: int


CallbackAction = (
    Toggle
    | OpenScreen
    | ChooseLanguage
    | ConfirmStop
    | Feedback
    | FeedbackItem
    | SetPreference
    | Consent
    | OpenFeedbackMenu
    | ChooseSubject
    | EditProfile
    | ConfirmForget
    | OpenPlan
    | FollowAction
    | EventButton
    | BroadcastButton
    | CancelScheduled
)


def toggle_data(follow: bool, kind: TargetKind, target_id: str, screen: Screen) -> str:
    return _checked(f"{'f' if follow else 'u'}:{_KIND_CODES[kind]}:{target_id}:{screen.value}")


def open_data(screen: Screen, zone_id: str | None = None) -> str:
    if screen is Screen.ZONE:
        return _checked(f"zone:{zone_id}")
    return _checked(f"menu:{screen.value}")


def language_data(language: str) -> str:
    return _checked(f"lang:{language}")


def stop_data(confirmed: bool) -> str:
    return "stop:yes" if confirmed else "stop:no"


def feedback_data(delivery_id: int, reaction: Reaction) -> str:
    return _checked(f"fb:{delivery_id}:{reaction.value}")


def feedback_item_data(delivery_id: int) -> str:
    return _checked(f"fbi:{delivery_id}")


def preference_data(name: str, value: str) -> str:
    return _checked(f"pref:{name}:{value}")


def consent_data(given: bool, prompt_id: int | None = None) -> str:
    if not given:
        return "cn:n"
    return _checked(f"cn:y:{prompt_id}") if prompt_id else "cn:y"


def feedback_menu_data(menu: FeedbackMenu) -> str:
    return f"fbm:{menu.value}"


def subject_data(kind: str, subject_id: str) -> str:
    return _checked(f"fbs:{_SUBJECT_CODES[kind]}:{subject_id}")


def profile_data(field: ProfileField, value: str | None = None) -> str:
    return _checked(f"pf:{field.value}:{value}" if value else f"pf:{field.value}")


def forget_data(confirmed: bool) -> str:
    return "fg:yes" if confirmed else "fg:no"


def plan_data(strategy_id: str | None = None, action_code: str | None = None) -> str:
    if action_code:
        return _checked(f"pl:a:{action_code}")
    return _checked(f"pl:s:{strategy_id}") if strategy_id else "pl:r"


def follow_action_data(follow: bool, action_code: str) -> str:
    return _checked(f"pl:{'f' if follow else 'u'}:{action_code}")


def event_data(event_id: int, choice: EventChoice) -> str:
    return _checked(f"ev:{event_id}:{choice.value}")


def broadcast_data(token: str, step: str, value: str | None = None) -> str:
    return _checked(f"bc:{token}:{step}:{value}" if value else f"bc:{token}:{step}")


def cancel_scheduled_data(notification_id: int) -> str:
    return _checked(f"bcx:{notification_id}")


def _checked(data: str) -> str:
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def parse(data: str | None) -> CallbackAction:
    parts = (data or "").split(":")
    try:
        return _PARSERS[parts[0]](parts[1:])
    except (KeyError, IndexError, ValueError):
        raise InvalidCallback(data) from None


def _parse_toggle(follow: bool):
    def parse_parts(parts: list[str]) -> Toggle:
        kind_code, target_id, screen = parts
        if not target_id:
            raise ValueError("empty target")
        return Toggle(follow, _CODE_KINDS[kind_code], target_id, Screen(screen))

    return parse_parts


def _parse_menu(parts: list[str]) -> OpenScreen:
    (screen,) = parts
    parsed = Screen(screen)
    if parsed is Screen.ZONE:
        raise ValueError("a zone screen needs a zone")
    return OpenScreen(parsed)


def _parse_zone(parts: list[str]) -> OpenScreen:
    (zone_id,) = parts
    if not zone_id:
        raise ValueError("empty zone")
    return OpenScreen(Screen.ZONE, zone_id)


def _parse_language(parts: list[str]) -> ChooseLanguage:
    (language,) = parts
    if language not in SUPPORTED_LANGUAGES:
        raise ValueError(language)
    return ChooseLanguage(language)


def _parse_stop(parts: list[str]) -> ConfirmStop:
    (answer,) = parts
    if answer not in ("yes", "no"):
        raise ValueError(answer)
    return ConfirmStop(answer == "yes")


def _database_id(text: str) -> int:
    """A row id as the database stores it: ASCII digits, 1 to the largest 32-bit integer.

    The ids buttons carry are Integer columns (32-bit on PostgreSQL; SQLite refuses anything
    past 64 bits), so a forged number that does not fit is refused here, never sent to SQL.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(LARGEST_DATABASE_ID)):
        raise ValueError(text)
    value = int(text)
    if not 1 <= value <= LARGEST_DATABASE_ID:
        raise ValueError(text)
    return value


def _parse_feedback(parts: list[str]) -> Feedback:
    delivery_id, reaction = parts
    return Feedback(_database_id(delivery_id), Reaction(reaction))


def _parse_feedback_item(parts: list[str]) -> FeedbackItem:
    (delivery_id,) = parts
    return FeedbackItem(_database_id(delivery_id))


def _parse_preference(parts: list[str]) -> SetPreference:
    name, value = parts
    if name not in PREFERENCE_NAMES or not value:
        raise ValueError(name)
    return SetPreference(name, value)


def _parse_consent(parts: list[str]) -> Consent:
    answer, *rest = parts
    if answer == "n" and not rest:
        return Consent(False)
    if answer != "y" or len(rest) > 1:
        raise ValueError(answer)
    return Consent(True, _database_id(rest[0]) if rest else None)


def _parse_feedback_menu(parts: list[str]) -> OpenFeedbackMenu:
    (menu,) = parts
    return OpenFeedbackMenu(FeedbackMenu(menu))


def _parse_subject(parts: list[str]) -> ChooseSubject:
    code, subject_id = parts
    if not subject_id:
        raise ValueError("empty subject")
    return ChooseSubject(_CODE_SUBJECTS[code], subject_id)


def _parse_profile(parts: list[str]) -> EditProfile:
    field, *rest = parts
    parsed = ProfileField(field)
    if not rest:
        return EditProfile(parsed)
    (value,) = rest
    if parsed is not ProfileField.CATEGORY:
        raise ValueError(value)
    return EditProfile(parsed, StakeholderCategory(value).value)


def _parse_forget(parts: list[str]) -> ConfirmForget:
    (answer,) = parts
    if answer not in ("yes", "no"):
        raise ValueError(answer)
    return ConfirmForget(answer == "yes")


def _parse_plan(parts: list[str]) -> OpenPlan | FollowAction:
    what, *rest = parts
    if what == "r" and not rest:
        return OpenPlan()
    (value,) = rest
    if not _ACTION_CODE.match(value):
        raise ValueError(value)
    if what == "s":
        return OpenPlan(strategy_id=value)
    if what == "a":
        return OpenPlan(action_code=value)
    if what in ("f", "u"):
        return FollowAction(what == "f", value)
    raise ValueError(what)


def _parse_event(parts: list[str]) -> EventButton:
    event_id, choice = parts
    return EventButton(_database_id(event_id), EventChoice(choice))


def _parse_broadcast(parts: list[str]) -> BroadcastButton:
    token, step, *rest = parts
    if not _TOKEN.match(token) or step not in BROADCAST_STEPS or len(rest) > 1:
        raise ValueError(token)
    if rest and not _ACTION_CODE.match(rest[0]):
        raise ValueError(rest[0])
    return BroadcastButton(token, step, rest[0] if rest else None)


def _parse_cancel_scheduled(parts: list[str]) -> CancelScheduled:
    (notification_id,) = parts
    return CancelScheduled(_database_id(notification_id))


_PARSERS = {
    "bc": _parse_broadcast,
    "bcx": _parse_cancel_scheduled,
    "ev": _parse_event,
    "pl": _parse_plan,
    "cn": _parse_consent,
    "fbm": _parse_feedback_menu,
    "fbs": _parse_subject,
    "pf": _parse_profile,
    "fg": _parse_forget,
    "pref": _parse_preference,
    "fb": _parse_feedback,
    "fbi": _parse_feedback_item,
    "f": _parse_toggle(True),
    "u": _parse_toggle(False),
    "menu": _parse_menu,
    "zone": _parse_zone,
    "lang": _parse_language,
    "stop": _parse_stop,
}
