"""Tagging feed items with the plan's strategies, zones and comuni, from data.

Matching is whole-word, case- and accent-insensitive, with typographic apostrophes folded
to '. Ambiguous place names need care: a name of three letters or fewer ("Ne"), or one
marked `match_case` (a comune named like a common word: "Mele", "Casella"), matches only
with its own capitalisation, and a place marked `title_only` matches only in titles.

A place named in the title tags its comune and its zone; a place named only in the body
tags the comune alone (an article listing many comuni in passing is not about their zones).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SHORT_NAME_LENGTH = 3
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "′": "'"})
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Tags:
    strategies: frozenset[str]
    zones: frozenset[str]
    comuni: frozenset[str]


@dataclass(frozen=True)
class Place:
    name: str
    zone: str | None
    title_only: bool = False
    match_case: bool = False


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    strategies: frozenset[str]
    zones: frozenset[str]


def fold(text: str, *, keep_case: bool = False) -> str:
    """Text for matching: accents removed, apostrophes unified, spaces collapsed and
    trimmed, and (unless `keep_case`) case folded. The one way the whole bot compares
    names (feed tagging, monitoring imports, plan search, the declared comune)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    bare = _SPACES.sub(" ", bare).strip()
    return bare if keep_case else bare.casefold()


def _phrase_pattern(phrases: Iterable[str], *, ignore_case: bool = True) -> re.Pattern[str] | None:
    """One regex matching any phrase as whole words; a trailing * allows any word ending."""
    alternatives = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        prefix = phrase.endswith("*")
        body = re.escape(phrase.rstrip("*")).replace(r"\ ", r"\s+")
        alternatives.append(body + (r"\w*" if prefix else ""))
    if not alternatives:
        return None
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", flags)


class ClassificationRules:
    """Compiled rules; build with `from_data`, then call `classify` for each item."""

    def __init__(self, rules: list[_Rule], places: list[Place]) -> None:
        self._rules = rules
        self._places_by_key: dict[tuple[bool, str], Place] = {}
        for place in places:
            key = _place_key(place)
            self._places_by_key.setdefault(key, place)
        self._place_patterns = {
            keep_case: _phrase_pattern(
                (name for case, name in self._places_by_key if case == keep_case),
                ignore_case=False,
            )
            for keep_case in (False, True)
        }

    @classmethod
    def from_data(
        cls, rules: list[dict[str, Any]], places: Mapping[str, str | Mapping[str, Any]]
    ) -> ClassificationRules:
        """`rules`: [{"keywords": [...], "strategies": [...], "zones": [...]}, ...];
        `places`: place name → zone id, or → {"zone": id, "title_only": bool,
        "match_case": bool}."""
        return cls(
            [_compile_rule(rule, index) for index, rule in enumerate(rules)],
            [_place(name, value) for name, value in places.items()],
        )

    def classify(
        self,
        title: str,
        text: str = "",
        *,
        default_strategies: Iterable[str] = (),
        default_zones: Iterable[str] = (),
    ) -> Tags:
        """Tags for an item; the defaults (those of its feed) are always included."""
        title = title or ""
        text = text or ""
        strategies = set(default_strategies)
        zones = set(default_zones)
        folded = fold(f"{title}\n{text}")
        for rule in self._rules:
            if rule.pattern.search(folded):
                strategies |= rule.strategies
                zones |= rule.zones
        in_title = self._places_in(title)
        in_body = {place for place in self._places_in(text) if not place.title_only}
        zones |= {place.zone for place in in_title if place.zone}
        comuni = {place.name for place in in_title | in_body}
        return Tags(frozenset(strategies), frozenset(zones), frozenset(comuni))

    def _places_in(self, text: str) -> set[Place]:
        found: set[Place] = set()
        if not text:
            return found
        for keep_case, pattern in self._place_patterns.items():
            if pattern is None:
                continue
            haystack = fold(text, keep_case=keep_case)
            for match in pattern.finditer(haystack):
                key = (keep_case, _SPACES.sub(" ", match.group(0)))
                if key in self._places_by_key:
                    found.add(self._places_by_key[key])
        return found


def _place_key(place: Place) -> tuple[bool, str]:
    """(whether case matters, the folded name used for matching)."""
    letters = sum(char.isalpha() for char in place.name)
    keep_case = place.match_case or letters <= SHORT_NAME_LENGTH
    return keep_case, fold(place.name.strip(), keep_case=keep_case)


def _place(name: str, value: str | Mapping[str, Any]) -> Place:
    if isinstance(value, str) or value is None:
        return Place(name=name, zone=value or None)
    return Place(
        name=name,
        zone=value.get("zone"),
        title_only=bool(value.get("title_only")),
        match_case=bool(value.get("match_case")),
    )


def _compile_rule(rule: Mapping[str, Any], index: int) -> _Rule:
    keywords = [fold(keyword.strip()) for keyword in rule.get("keywords") or [] if keyword.strip()]
    pattern = _phrase_pattern(keywords)
    if pattern is None:
        raise ValueError(f"classification rule {index} has no keywords: {dict(rule)!r}")
    return _Rule(
        pattern=pattern,
        strategies=frozenset(rule.get("strategies") or ()),
        zones=frozenset(rule.get("zones") or ()),
    )
