"""The plan's reference data: strategies, zones and comuni, seeded from editable YAML.

The YAML (a copy of the shared facts file) stays the source of truth: items marked
`uncertain` there keep that mark in the database and are never hard-coded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.db.models import Comune, Strategy, Zone
from bot.i18n import _, current_language, use_locale

DEFAULT_PLAN_FILE = Path(__file__).resolve().parent.parent / "data" / "psm_genova.yaml"
_NUMBERED_STRATEGY = re.compile(r"S([0-9]+)")


class PlanDataError(ValueError):
    """The plan file is unreadable or inconsistent."""


def display_name(name: str) -> str:
    """Names as shown to users: the plan writes strategies in lower case."""
    return name[:1].upper() + name[1:]


def strategy_label(strategy: Strategy, language: str | None = None) -> str:
    """A strategy as every screen names it (current language unless given):
    "S4 · Adattarci ai cambiamenti climatici". One whose title the sources do not confirm
    (`uncertain` in the plan data) shows no guessed title: "Strategia 5 — titolo da confermare".
    """
    with use_locale(language or current_language()):
        if strategy.uncertain:
            numbered = _NUMBERED_STRATEGY.fullmatch(strategy.id)
            number = numbered.group(1) if numbered else strategy.id
            return _("Strategy {number} — title to be confirmed").format(number=number)
        return f"{strategy.id} · {display_name(strategy.name(current_language()))}"


@dataclass(frozen=True)
class PlanData:
    strategies: list[dict]
    zones: list[dict]
    comuni: list[dict]


def load_plan(path: Path = DEFAULT_PLAN_FILE) -> PlanData:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PlanDataError(f"cannot read plan data {path}: {error}") from error
    try:
        plan = PlanData(
            strategies=list(raw["strategies"]),
            zones=list(raw["zones"]["items"]),
            comuni=list(raw["comuni"]["items"]),
        )
    except (KeyError, TypeError) as error:
        raise PlanDataError(f"plan data {path} lacks section {error}") from error
    _check_consistency(plan, path)
    return plan


def _check_consistency(plan: PlanData, path: Path) -> None:
    zone_ids = {zone["id"] for zone in plan.zones}
    for comune in plan.comuni:
        if comune.get("zone") not in zone_ids:
            raise PlanDataError(
                f"plan data {path}: comune {comune.get('name')!r} has unknown zone "
                f"{comune.get('zone')!r}"
            )


async def seed_reference_data(session: AsyncSession, plan: PlanData) -> None:
    """Insert or update strategies, zones and comuni; safe to run at every start."""
    await _upsert_strategies(session, plan.strategies)
    await _upsert_zones(session, plan.zones)
    await session.flush()
    await _upsert_comuni(session, plan.comuni)


async def _upsert_strategies(session: AsyncSession, items: list[dict]) -> None:
    existing = {s.id: s for s in await session.scalars(select(Strategy))}
    for position, item in enumerate(items):
        strategy = existing.get(item["id"]) or Strategy(id=item["id"])
        strategy.position = position
        strategy.name_it = item["name_it"]
        strategy.name_en = item.get("name_en") or item["name_it"]
        strategy.uncertain = bool(item.get("uncertain", False))
        session.add(strategy)


async def _upsert_zones(session: AsyncSession, items: list[dict]) -> None:
    existing = {z.id: z for z in await session.scalars(select(Zone))}
    for position, item in enumerate(items):
        zone = existing.get(item["id"]) or Zone(id=item["id"])
        zone.position = position
        zone.name = item["name_it"]
        zone.label_detail = item.get("label_detail")
        zone.uncertain = bool(item.get("uncertain", False))
        session.add(zone)


async def _upsert_comuni(session: AsyncSession, items: list[dict]) -> None:
    existing = {c.istat: c for c in await session.scalars(select(Comune))}
    for item in items:
        istat = str(item["istat"])
        comune = existing.get(istat) or Comune(istat=istat)
        comune.name = item["name"]
        comune.zone_id = item["zone"]
        comune.population = item.get("population")
        comune.zone_basis = item.get("zone_basis")
        comune.uncertain = bool(item.get("uncertain", False))
        session.add(comune)


async def list_strategies(session: AsyncSession) -> list[Strategy]:
    return list(await session.scalars(select(Strategy).order_by(Strategy.position)))


async def list_zones(session: AsyncSession) -> list[Zone]:
    return list(await session.scalars(select(Zone).order_by(Zone.position)))


async def get_zone_with_comuni(session: AsyncSession, zone_id: str) -> Zone | None:
    query = select(Zone).where(Zone.id == zone_id).options(selectinload(Zone.comuni))
    return await session.scalar(query)


async def get_strategy(session: AsyncSession, strategy_id: str) -> Strategy | None:
    return await session.get(Strategy, strategy_id)


async def get_comune(session: AsyncSession, istat: str) -> Comune | None:
    return await session.get(Comune, istat)
