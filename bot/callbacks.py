"""Callback data carried by inline buttons: short, parseable, at most 64 bytes.

Buttons only say *what* to do; who presses is taken from the update, so forged data
can never act on someone else's subscriptions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.db.models import TargetKind

MAX_CALLBACK_BYTES = 64

_KIND_CODES = {TargetKind.STRATEGY: "s", TargetKind.ZONE: "z", TargetKind.COMUNE: "c"}
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
class SetPreference:
    """A delivery preference: mode (instant/daily/weekly), hour, day, or quiet hours."""

    name: str
    value: str


PREFERENCE_NAMES = ("mode", "hour", "day", "quiet")

CallbackAction = Toggle | OpenScreen | ChooseLanguage | ConfirmStop | Feedback | SetPreference


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


def preference_data(name: str, value: str) -> str:
    return _checked(f"pref:{name}:{value}")


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
    if language not in ("it", "en"):
        raise ValueError(language)
    return ChooseLanguage(language)


def _parse_stop(parts: list[str]) -> ConfirmStop:
    (answer,) = parts
    if answer not in ("yes", "no"):
        raise ValueError(answer)
    return ConfirmStop(answer == "yes")


def _parse_feedback(parts: list[str]) -> Feedback:
    delivery_id, reaction = parts
    if not delivery_id.isdigit():
        raise ValueError(delivery_id)
    return Feedback(int(delivery_id), Reaction(reaction))


def _parse_preference(parts: list[str]) -> SetPreference:
    name, value = parts
    if name not in PREFERENCE_NAMES or not value:
        raise ValueError(name)
    return SetPreference(name, value)


_PARSERS = {
    "pref": _parse_preference,
    "fb": _parse_feedback,
    "f": _parse_toggle(True),
    "u": _parse_toggle(False),
    "menu": _parse_menu,
    "zone": _parse_zone,
    "lang": _parse_language,
    "stop": _parse_stop,
}
