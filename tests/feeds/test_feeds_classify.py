"""Tagging items with strategies, zones and comuni from data."""

from __future__ import annotations

import pytest

from feeds.classify import ClassificationRules, Tags, fold

RULES = [
    {"keywords": ["mobilità", "PUMS", "trasporto pubblico"], "strategies": ["S3"], "zones": []},
    {"keywords": ["turism*"], "strategies": ["S2"]},
    {"keywords": ["Tigullio"], "strategies": [], "zones": ["tigullio"]},
]
PLACES = {
    "Sestri Levante": "val_petronio",
    "Sant'Olcese": "valli_polcevera_scrivia",
    "Santo Stefano d'Aveto": "valli_del_levante",
    "Ne": "valli_del_levante",
    "Genova": "genova",
    "Recco": {"zone": "golfo_paradiso", "title_only": True},
    "Campo Ligure": "ponente",
    "Mele": {"zone": "ponente", "match_case": True},
}


@pytest.fixture(scope="module")
def rules() -> ClassificationRules:
    return ClassificationRules.from_data(RULES, PLACES)


def test_place_in_title_tags_comune_and_zone(rules):
    tags = rules.classify("Nuova scuola a Sestri Levante", "")
    assert tags == Tags(frozenset(), frozenset({"val_petronio"}), frozenset({"Sestri Levante"}))


def test_place_in_body_tags_comune_only(rules):
    tags = rules.classify("Bandi per i comuni", "Tra i beneficiari Sestri Levante e Campo Ligure.")
    assert tags.comuni == {"Sestri Levante", "Campo Ligure"}
    assert tags.zones == frozenset()


def test_keywords_are_case_and_accent_insensitive_whole_words(rules):
    assert rules.classify("MOBILITA sostenibile", "").strategies == {"S3"}
    assert rules.classify("Approvato il pums", "").strategies == {"S3"}
    assert rules.classify("Il PUMSTER non esiste", "").strategies == frozenset()
    assert rules.classify("Più trasporto\npubblico", "").strategies == {"S3"}
    assert rules.classify("x", "Cresce il turismo, e i turisti").strategies == {"S2"}
    assert rules.classify("Eventi nel Tigullio", "").zones == {"tigullio"}


def test_apostrophes_and_accents_in_place_names(rules):
    for title in ("Lavori a Sant’Olcese", "Lavori a SANT'OLCESE", "Lavori a Sant‘Olcese"):
        assert rules.classify(title, "").comuni == {"Sant'Olcese"}, title
    tags = rules.classify("Neve a Santo Stefano d’Aveto", "")
    assert tags.comuni == {"Santo Stefano d'Aveto"}
    assert tags.zones == {"valli_del_levante"}


def test_short_place_names_need_their_capitalisation(rules):
    prose = "Se ne parla molto: ne abbiamo discusso, NE riparleremo."
    assert rules.classify("Se ne parla", prose).comuni == frozenset()
    assert rules.classify("Consiglio comunale a Ne", "").comuni == {"Ne"}
    assert rules.classify("Consiglio comunale a Ne", "").zones == {"valli_del_levante"}
    assert rules.classify("Nessuna novità, nemmeno a Genova", "").comuni == {"Genova"}


def test_places_marked_match_case_need_their_capitalisation(rules):
    assert rules.classify("La sagra delle mele", "").comuni == frozenset()
    assert rules.classify("Nuova scuola a Mele", "").zones == {"ponente"}
    assert rules.classify("Nuova scuola a MELE", "").comuni == frozenset()


def test_title_only_places_are_ignored_in_the_body(rules):
    assert rules.classify("Patto di sviluppo", "Firmato a Recco").comuni == frozenset()
    assert rules.classify("Recco, firmato il patto", "").zones == {"golfo_paradiso"}


def test_defaults_are_always_included(rules):
    tags = rules.classify(
        "Nulla di specifico", "", default_strategies=["S1"], default_zones=["genova"]
    )
    assert tags.strategies == {"S1"} and tags.zones == {"genova"}
    tags = rules.classify("PUMS a Sestri Levante", "", default_strategies=("S1",))
    assert tags.strategies == {"S1", "S3"} and tags.zones == {"val_petronio"}


def test_a_rule_without_keywords_is_an_error():
    with pytest.raises(ValueError, match="rule 0"):
        ClassificationRules.from_data([{"keywords": [], "strategies": ["S1"]}], {})


def test_empty_data_tags_nothing():
    rules = ClassificationRules.from_data([], {})
    assert rules.classify("Sestri Levante", "") == Tags(frozenset(), frozenset(), frozenset())


def test_fold():
    assert fold("Città  d’Aveto") == "citta d'aveto"
    assert fold("Città", keep_case=True) == "Citta"
