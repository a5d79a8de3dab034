"""Tagging feed items: keyword rules from `bot/data/feed_rules.yaml`, places from the comuni.

The YAML says which keywords point to which strategies and zones, how to match ambiguous
place names and which phrases to ignore; the comuni table says which places exist and
where they are. `load_classifier` puts both together and checks every id against the plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Comune, Strategy, TargetKind, Zone
from feeds.classify import ClassificationRules, fold

DEFAULT_RULES_FILE = Path(__file__).resolve().parent.parent / "data" / "feed_rules.yaml"
_PLACE_OPTIONS = frozenset({"title_only", "match_case"})

Tag = tuple[str, str]


class FeedRulesError(ValueError):
    """The rules file is unreadable or names something the plan does not have."""


@dataclass(frozen=True)
class FeedRulesData:
    rules: list[dict[str, Any]] = field(default_factory=list)
    places: dict[str, dict[str, bool]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    ignore_phrases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ComunePlace:
    name: str
    istat: str
    zone_id: str


def load_feed_rules(path: Path = DEFAULT_RULES_FILE) -> FeedRulesData:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise FeedRulesError(f"cannot read feed rules {path}: {error}") from error
    if not isinstance(raw, dict):
        raise FeedRulesError(f"feed rules {path}: expected a mapping at the top level")
    return FeedRulesData(
        rules=_list_of_mappings(raw.get("rules"), "rules", path),
        places={
            str(name): _place_options(name, value, path)
            for name, value in _mapping(raw, "places", path).items()
        },
        aliases={str(alias): str(name) for alias, name in _mapping(raw, "aliases", path).items()},
        ignore_phrases=[str(phrase) for phrase in raw.get("ignore_phrases") or []],
    )


def _mapping(raw: dict, key: str, path: Path) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise FeedRulesError(f"feed rules {path}: '{key}' must be a mapping")
    return value


def _list_of_mappings(value: Any, key: str, path: Path) -> list[dict[str, Any]]:
    items = value or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise FeedRulesError(f"feed rules {path}: '{key}' must be a list of mappings")
    return items


def _place_options(name: str, value: Any, path: Path) -> dict[str, bool]:
    options = value or {}
    if not isinstance(options, dict) or not set(options) <= _PLACE_OPTIONS:
        allowed = ", ".join(sorted(_PLACE_OPTIONS))
        raise FeedRulesError(f"feed rules {path}: place {name!r} accepts only {allowed}")
    return {key: bool(flag) for key, flag in options.items()}


class FeedClassifier:
    """Tags of one feed item: (kind, id) pairs with kinds from TargetKind."""

    def __init__(
        self,
        rules: ClassificationRules,
        istat_by_place: Mapping[str, str],
        ignore_phrases: Iterable[str] = (),
    ) -> None:
        self._rules = rules
        self._istat_by_place = dict(istat_by_place)
        self._ignored = _phrases_pattern(ignore_phrases)

    def tags(
        self,
        title: str,
        text: str = "",
        *,
        default_strategies: Iterable[str] = (),
        default_zones: Iterable[str] = (),
    ) -> list[Tag]:
        found = self._rules.classify(
            self._without_ignored(title),
            self._without_ignored(text),
            default_strategies=default_strategies,
            default_zones=default_zones,
        )
        tags = {(TargetKind.STRATEGY.value, strategy) for strategy in found.strategies}
        tags |= {(TargetKind.ZONE.value, zone) for zone in found.zones}
        tags |= {(TargetKind.COMUNE.value, self._istat_by_place[name]) for name in found.comuni}
        return sorted(tags)

    def _without_ignored(self, text: str) -> str:
        text = fold(text or "", keep_case=True)
        return self._ignored.sub(" ", text) if self._ignored else text


def _phrases_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    folded = sorted({fold(p.strip(), keep_case=True) for p in phrases if p.strip()}, key=len)
    if not folded:
        return None
    alternatives = (re.escape(phrase).replace(r"\ ", r"\s+") for phrase in reversed(folded))
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def build_classifier(
    data: FeedRulesData,
    comuni: Iterable[ComunePlace],
    strategy_ids: set[str],
    zone_ids: set[str],
) -> FeedClassifier:
    """Check the rules against the plan's ids, then compile them."""
    comuni_by_name = {comune.name: comune for comune in comuni}
    _check_rules(data.rules, strategy_ids, zone_ids)
    _check_names(data.places, comuni_by_name, "place")
    _check_names(data.aliases.values(), comuni_by_name, "alias target")
    places: dict[str, dict[str, Any]] = {}
    istat_by_place: dict[str, str] = {}
    for name, comune in comuni_by_name.items():
        places[name] = {"zone": comune.zone_id, **data.places.get(name, {})}
        istat_by_place[name] = comune.istat
    for alias, name in data.aliases.items():
        places[alias] = {"zone": comuni_by_name[name].zone_id, **data.places.get(name, {})}
        istat_by_place[alias] = comuni_by_name[name].istat
    try:
        rules = ClassificationRules.from_data(data.rules, places)
    except ValueError as error:
        raise FeedRulesError(f"feed rules: {error}") from error
    return FeedClassifier(rules, istat_by_place, data.ignore_phrases)


def _check_rules(rules: list[dict[str, Any]], strategy_ids: set[str], zone_ids: set[str]) -> None:
    for index, rule in enumerate(rules):
        unknown = set(rule.get("strategies") or ()) - strategy_ids
        unknown |= set(rule.get("zones") or ()) - zone_ids
        if unknown:
            raise FeedRulesError(
                f"feed rules: rule {index} names unknown strategies or zones: "
                f"{', '.join(sorted(unknown))}"
            )


def _check_names(
    names: Iterable[str], comuni_by_name: Mapping[str, ComunePlace], what: str
) -> None:
    unknown = sorted(set(names) - set(comuni_by_name))
    if unknown:
        raise FeedRulesError(f"feed rules: {what} not among the comuni: {', '.join(unknown)}")


async def load_classifier(session: AsyncSession, path: Path = DEFAULT_RULES_FILE) -> FeedClassifier:
    """The classifier for the rules file and the comuni currently in the database."""
    data = load_feed_rules(path)
    rows = await session.execute(select(Comune.name, Comune.istat, Comune.zone_id))
    comuni = [ComunePlace(name, istat, zone_id) for name, istat, zone_id in rows]
    strategy_ids = set(await session.scalars(select(Strategy.id)))
    zone_ids = set(await session.scalars(select(Zone.id)))
    return build_classifier(data, comuni, strategy_ids, zone_ids)
