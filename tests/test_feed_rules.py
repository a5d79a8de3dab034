"""Tagging rules as data: the shipped rules file against the plan in the database."""

from __future__ import annotations

import pytest

from bot.services.feed_rules import (
    ComunePlace,
    FeedRulesData,
    FeedRulesError,
    build_classifier,
    load_classifier,
    load_feed_rules,
)


@pytest.fixture
async def classifier(db):
    async with db.transaction() as session:
        return await load_classifier(session)


async def test_the_shipped_rules_name_only_what_the_plan_has(classifier):
    assert classifier.tags("Nulla di particolare") == []


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("Nuovo parcheggio a Rapallo", "", {("zone", "tigullio"), ("comune", "010046")}),
        ("Eventi", "Se ne parla a Rapallo", {("comune", "010046")}),  # body: the comune only
        ("Consiglio comunale a Ne", "", {("zone", "valli_del_levante"), ("comune", "010040")}),
        ("Se ne parla", "ne abbiamo parlato", set()),
        ("Sagra delle mele", "", set()),
        ("Lavori a Santa Margherita", "", {("zone", "tigullio"), ("comune", "010054")}),
        ("Il PUMS è approvato", "", {("strategy", "S3")}),
        ("Allerta meteo nel Tigullio", "", {("strategy", "S4"), ("zone", "tigullio")}),
    ],
)
async def test_items_are_tagged_by_places_and_keywords(classifier, title, text, expected):
    assert set(classifier.tags(title, text)) == expected


async def test_the_institution_name_is_not_news_about_genova(classifier):
    assert classifier.tags("Città Metropolitana di Genova: nuovo bando") == []
    assert classifier.tags("CITTA' METROPOLITANA DI GENOVA informa") == []
    assert set(classifier.tags("Cantieri a Genova")) == {("zone", "genova"), ("comune", "010025")}


async def test_the_feed_defaults_are_always_included(classifier):
    tags = classifier.tags("Nulla", default_strategies=["S1"], default_zones=["ponente"])
    assert tags == [("strategy", "S1"), ("zone", "ponente")]


COMUNI = [ComunePlace("Rapallo", "010046", "tigullio")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (FeedRulesData(rules=[{"keywords": ["x"], "zones": ["atlantide"]}]), "atlantide"),
        (FeedRulesData(rules=[{"keywords": ["x"], "strategies": ["S9"]}]), "S9"),
        (FeedRulesData(rules=[{"keywords": [], "strategies": ["S1"]}]), "no keywords"),
        (FeedRulesData(places={"Atlantide": {"title_only": True}}), "place not among"),
        (FeedRulesData(aliases={"Rapa": "Rapallino"}), "alias target not among"),
    ],
)
def test_rules_naming_unknown_things_are_refused(data, message):
    with pytest.raises(FeedRulesError, match=message):
        build_classifier(data, COMUNI, {"S1"}, {"tigullio"})


def test_an_unreadable_rules_file_is_a_clear_error(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("places:\n  Rapallo: {everywhere: true}\n", encoding="utf-8")
    with pytest.raises(FeedRulesError, match="accepts only match_case, title_only"):
        load_feed_rules(path)
    with pytest.raises(FeedRulesError, match="cannot read feed rules"):
        load_feed_rules(tmp_path / "missing.yaml")
