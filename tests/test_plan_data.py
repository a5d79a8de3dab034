"""The plan's reference data is seeded from editable YAML, with its uncertainties kept."""

import pytest
import yaml
from sqlalchemy import func, select

from bot.db.models import Comune, Strategy, Zone
from bot.services import plan


async def count(session, model) -> int:
    return await session.scalar(select(func.count()).select_from(model))


async def test_seeded_plan_has_strategies_nine_zones_and_67_comuni(db):
    async with db.transaction() as session:
        assert await count(session, Strategy) == 5
        assert await count(session, Zone) == 9
        assert await count(session, Comune) == 67
        genova = await session.get(Comune, "010025")
        assert (genova.name, genova.zone_id) == ("Genova", "genova")


async def test_uncertain_items_stay_marked_as_data(db):
    async with db.transaction() as session:
        assert (await session.get(Strategy, "S5")).uncertain is True
        assert (await session.get(Strategy, "S1")).uncertain is False
        assert (await session.get(Zone, "entella")).uncertain is True
        assert (await session.get(Comune, "010010")).uncertain is True  # Carasco
        assert (await session.get(Comune, "010015")).uncertain is False  # Chiavari


async def test_every_zone_of_the_yaml_lists_its_comuni_consistently():
    data = plan.load_plan()
    by_zone: dict[str, set[str]] = {}
    for comune in data.comuni:
        by_zone.setdefault(comune["zone"], set()).add(comune["name"])
    for zone in data.zones:
        assert set(zone["comuni"]) == by_zone[zone["id"]], zone["id"]


async def test_seeding_again_is_idempotent_and_applies_edits(db, tmp_path):
    raw = yaml.safe_load(plan.DEFAULT_PLAN_FILE.read_text(encoding="utf-8"))
    raw["strategies"][4]["name_it"] = "costruire la città metropolitana"
    raw["strategies"][4]["uncertain"] = False
    edited = tmp_path / "plan.yaml"
    edited.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    try:
        async with db.transaction() as session:
            await plan.seed_reference_data(session, plan.load_plan(edited))
        async with db.transaction() as session:
            s5 = await session.get(Strategy, "S5")
            assert (s5.name_it, s5.uncertain) == ("costruire la città metropolitana", False)
            assert await count(session, Comune) == 67
    finally:
        async with db.transaction() as session:
            await plan.seed_reference_data(session, plan.load_plan())


def test_inconsistent_plan_file_is_rejected_clearly(tmp_path):
    raw = yaml.safe_load(plan.DEFAULT_PLAN_FILE.read_text(encoding="utf-8"))
    raw["comuni"]["items"][0]["zone"] = "atlantide"
    broken = tmp_path / "plan.yaml"
    broken.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(plan.PlanDataError, match="unknown zone 'atlantide'"):
        plan.load_plan(broken)


def test_missing_plan_file_is_reported(tmp_path):
    with pytest.raises(plan.PlanDataError, match="cannot read plan data"):
        plan.load_plan(tmp_path / "nope.yaml")
