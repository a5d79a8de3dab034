"""The open data files: they parse with common tools, match the database, follow their
schema, and give no count of the participation record below five."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import feedparser
import icalendar
import pytest
from sqlalchemy import func, select

from bot.db.models import (
    Comune,
    EntryKind,
    Event,
    Indicator,
    Measurement,
    Notification,
    NotificationKind,
    PlanAction,
    Strategy,
    Zone,
)
from bot.i18n import TIMEZONE
from bot.services import events, monitoring, participation, subjects
from bot.services.events import EventDraft
from bot.services.monitoring_sources import read_file
from bot.site.opendata import TABLES, FieldType, OpenDataFile, open_data_files, open_data_index

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "bot" / "data" / "monitoring_sample.yaml"
UPDATE_CSV = ROOT / "tests" / "data" / "monitoring_update.csv"
TODAY = date(2026, 3, 2)
BASE_URL = "https://psm.example.org"
MARCH = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")


async def import_monitoring(db, *paths: Path) -> None:
    for path in paths:
        async with db.transaction() as session:
            await monitoring.import_records(session, read_file(path), today=TODAY)


async def add_events(db) -> dict[str, Event]:
    async with db.transaction() as session:
        lavagna = await session.scalar(select(Comune.istat).where(Comune.name == "Lavagna"))
        tigullio = await events.create(
            session,
            EventDraft(
                title_it="Assemblea del Tigullio",
                title_en="Tigullio assembly",
                starts_at=datetime(2026, 3, 10, 17, 0, tzinfo=UTC),
                zones=("tigullio",),
                strategies=("S1",),
                place="Chiavari, Sala del Consiglio",
            ),
            MARCH,
            announce=False,
        )
        lavagna_event = await events.create(
            session,
            EventDraft(
                title_it="Parco del Tigullio: incontro, domande e risposte",
                starts_at=datetime(2026, 7, 1, 16, 0, tzinfo=UTC),
                ends_at=datetime(2026, 7, 1, 18, 0, tzinfo=UTC),
                comune_istat=lavagna,
                strategies=("S4",),
                description_it='Riga uno, con "virgolette"\nriga due',
            ),
            MARCH,
            announce=False,
        )
        cancelled = await events.create(
            session,
            EventDraft(
                title_it="Revisione annuale",
                title_en="Annual review",
                starts_at=datetime(2026, 4, 20, 8, 0, tzinfo=UTC),
                zones=("genova",),
            ),
            MARCH,
            announce=False,
        )
        await events.cancel(session, cancelled, MARCH)
    return {"tigullio": tigullio, "lavagna": lavagna_event, "cancelled": cancelled}


async def add_contributions(db, zone_id: str, how_many: int) -> None:
    async with db.transaction() as session:
        subject = await subjects.chosen(session, "zone", zone_id)
        for _ in range(how_many):
            await participation.add_entry(
                session,
                kind=EntryKind.FEEDBACK,
                subject=subject,
                participant=None,
                language="it",
                now=MARCH,
            )


@pytest.fixture
async def published(db):
    """The plan's sample data and an update imported, three events, and contributions:
    three about Tigullio, six about Genova."""
    await import_monitoring(db, SAMPLE, UPDATE_CSV)
    created = await add_events(db)
    await add_contributions(db, "tigullio", 3)
    await add_contributions(db, "genova", 6)
    return created


async def files_in(db, language: str = "it", base_url: str | None = BASE_URL):
    return await open_data_files(db, language=language, base_url=base_url)


def csv_rows(file: OpenDataFile) -> list[dict[str, str]]:
    assert file.content_type.startswith("text/csv")
    return list(csv.DictReader(io.StringIO(file.body.decode("utf-8"), newline="")))


def json_document(file: OpenDataFile) -> dict:
    assert file.content_type == "application/json"
    return json.loads(file.body)


async def count(db, model) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_every_table_is_a_csv_with_the_database_rows(db, published):
    files = await files_in(db)
    expected = {
        "strategies": await count(db, Strategy),
        "zones": await count(db, Zone),
        "comuni": await count(db, Comune),
        "actions": await count(db, PlanAction),
        "indicators": await count(db, Indicator),
        "measurements": await count(db, Measurement),
        "reviews": 2,
        "events": 3,
    }
    for name, rows in expected.items():
        assert len(csv_rows(files[f"{name}.csv"])) == rows, name
    assert expected["actions"] == 14 and expected["measurements"] == 22

    action = next(row for row in csv_rows(files["actions.csv"]) if row["code"] == "S4.1")
    assert action["status"] == "delayed" and action["progress_pct"] == "55"
    assert action["funding_amount_eur"] == "2400000"  # imported as Italian "2.400.000,00"
    assert action["end_date"] == "2026-06-30" and action["zone_ids"] == "entella"
    assert action["sample"] == "true"
    assert ISO_TIME.fullmatch(action["updated_at"])

    measurement = next(
        row
        for row in csv_rows(files["measurements.csv"])
        if (row["action_code"], row["indicator_code"], row["period"]) == ("S4.1", "I1", "2025")
    )
    assert measurement["value"] == "31000" and measurement["sample"] == "true"


async def test_times_are_rome_times_with_their_offset_and_text_survives_quoting(db, published):
    rows = {row["title_it"]: row for row in csv_rows((await files_in(db))["events.csv"])}
    assert rows["Assemblea del Tigullio"]["starts_at"] == "2026-03-10T18:00:00+01:00"
    summer = rows["Parco del Tigullio: incontro, domande e risposte"]
    assert summer["starts_at"] == "2026-07-01T18:00:00+02:00"
    assert summer["description_it"] == 'Riga uno, con "virgolette"\nriga due'
    assert summer["zone_ids"] == "" and summer["title_en"] == ""
    assert rows["Revisione annuale"]["status"] == "cancelled"


async def test_every_json_file_holds_the_csv_rows_with_the_licence(db, published):
    files = await files_in(db)
    for table in TABLES:
        document = json_document(files[f"{table.name}.json"])
        assert document["licence"]["id"] == "CC-BY-4.0"
        assert document["licence"]["attribution"] == "Città Metropolitana di Genova"
        assert document["schema"] == f"schema.json#{table.name}"
        assert ISO_TIME.fullmatch(document["generated_at"])
        as_csv = csv_rows(files[f"{table.name}.csv"])
        assert [_as_cells(row, table) for row in document["rows"]] == as_csv, table.name
    actions = json_document(files["actions.json"])["rows"]
    s41 = next(row for row in actions if row["code"] == "S4.1")
    assert s41["funding_amount_eur"] == 2400000 and s41["sample"] is True
    assert s41["zone_ids"] == ["entella"] and s41["start_date"] == "2021-07-01"


def _as_cells(row: dict, table) -> dict[str, str]:
    """A JSON row as its CSV cells would read."""
    cells = {}
    for field in table.fields:
        value = row[field.name]
        if value is None:
            cells[field.name] = ""
        elif isinstance(value, bool):
            cells[field.name] = "true" if value else "false"
        elif isinstance(value, list):
            cells[field.name] = ";".join(value)
        else:
            cells[field.name] = str(value)
    return cells


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "null": (type(None),),
}


async def test_the_schema_lists_every_column_of_every_file_with_its_type(db, published):
    files = await files_in(db)
    schema = json_document(files["schema.json"])
    assert schema["licence"]["url"] == "https://creativecommons.org/licenses/by/4.0/"
    described = schema["$defs"]
    tables = {name.rsplit(".", 1)[0] for name in files if name.endswith((".csv", ".json"))}
    assert tables - {"schema"} == set(described)
    for name, definition in described.items():
        properties = definition["properties"]
        assert definition["$anchor"] == name
        header = next(csv.reader(io.StringIO(files[f"{name}.csv"].body.decode())))
        assert header == list(properties), name
        rows = json_document(files[f"{name}.json"])["rows"]
        assert rows, f"{name}: no rows to check"
        for row in rows:
            assert list(row) == list(properties) == definition["required"], name
            for column, value in row.items():
                types = properties[column]["type"]
                allowed = tuple(
                    kind
                    for name_of_type in ([types] if isinstance(types, str) else types)
                    for kind in _JSON_TYPES[name_of_type]
                )
                assert isinstance(value, allowed), (name, column, value)
                assert not (isinstance(value, bool) and bool not in allowed), (name, column)
                if value is not None and properties[column].get("format") == "date-time":
                    assert ISO_TIME.fullmatch(str(value)), (name, column, value)
        assert all(properties[column]["description"] for column in properties)


async def test_counts_below_five_are_not_given(db, published):
    files = await files_in(db)
    by_zone = {
        row["key"]: row
        for row in csv_rows(files["participation.csv"])
        if row["dimension"] == "zone"
    }
    assert by_zone["tigullio"] == {
        "dimension": "zone",
        "key": "tigullio",
        "count": "",
        "fewer_than_5": "true",
        "withheld": "false",
    }
    assert (by_zone["genova"]["count"], by_zone["genova"]["fewer_than_5"]) == ("6", "false")
    as_json = json_document(files["participation.json"])["rows"]
    tigullio = next(r for r in as_json if (r["dimension"], r["key"]) == ("zone", "tigullio"))
    assert tigullio["count"] is None and tigullio["fewer_than_5"] is True
    total = next(r for r in as_json if r["dimension"] == "total")
    assert total == {
        "dimension": "total",
        "key": "",
        "count": 9,
        "fewer_than_5": False,
        "withheld": False,
    }
    march = next(r for r in as_json if (r["dimension"], r["key"]) == ("month", "2026-03"))
    assert march["count"] == 9
    assert "3" not in {row["count"] for row in csv_rows(files["participation.csv"])}


async def test_a_count_below_five_cannot_be_worked_out_from_the_total(db, published):
    async with db.transaction() as session:
        for _ in range(2):
            await participation.add_entry(
                session,
                kind=EntryKind.FREE,
                subject=None,
                participant=None,
                language="it",
                now=MARCH,
            )
    files = await files_in(db)
    # Total 11 and feedback 9 would give the other messages away: 2. Both are withheld.
    by_kind = {
        row["key"]: row
        for row in csv_rows(files["participation.csv"])
        if row["dimension"] == "kind"
    }
    assert by_kind == {
        kind: {
            "dimension": "kind",
            "key": kind,
            "count": "",
            "fewer_than_5": "",
            "withheld": "true",
        }
        for kind in ("feedback", "free")
    }
    as_json = json_document(files["participation.json"])["rows"]
    free = next(r for r in as_json if (r["dimension"], r["key"]) == ("kind", "free"))
    assert (free["count"], free["fewer_than_5"], free["withheld"]) == (None, None, True)
    # Two zones below five (and the zeros) give nothing away: nothing more is withheld.
    tigullio = next(r for r in as_json if (r["dimension"], r["key"]) == ("zone", "tigullio"))
    assert (tigullio["fewer_than_5"], tigullio["withheld"]) == (True, False)
    genova = next(r for r in as_json if (r["dimension"], r["key"]) == ("zone", "genova"))
    assert (genova["count"], genova["withheld"]) == (6, False)
    properties = json_document(files["schema.json"])["$defs"]["participation"]["properties"]
    assert properties["withheld"]["type"] == "boolean"
    assert "null" in properties["fewer_than_5"]["type"]


def calendar_of(file: OpenDataFile) -> icalendar.Calendar:
    assert file.content_type.startswith("text/calendar")
    return icalendar.Calendar.from_ical(file.body)


def uids(calendar: icalendar.Calendar) -> set[str]:
    return {str(vevent["uid"]) for vevent in calendar.walk("VEVENT")}


async def test_the_calendars_hold_every_event_and_each_zone_and_strategy_its_own(db, published):
    files = await files_in(db)
    everything = calendar_of(files["events.ics"])
    assert uids(everything) == {event.uid for event in published.values()}
    by_uid = {str(vevent["uid"]): vevent for vevent in everything.walk("VEVENT")}
    assert str(by_uid[published["cancelled"].uid]["status"]) == "CANCELLED"
    assert str(by_uid[published["tigullio"].uid]["status"]) == "CONFIRMED"
    tigullio = by_uid[published["tigullio"].uid]
    assert "DTSTART;TZID=Europe/Rome:20260310T180000" in tigullio.to_ical().decode()
    assert tigullio.decoded("dtstart") == datetime(2026, 3, 10, 18, 0, tzinfo=TIMEZONE)
    assert [tz["tzid"] for tz in everything.walk("VTIMEZONE")] == ["Europe/Rome"]

    assert uids(calendar_of(files["events-zone-tigullio.ics"])) == {published["tigullio"].uid}
    # Held in Lavagna, a comune of the Entella zone, without the zone as a tag.
    assert uids(calendar_of(files["events-zone-entella.ics"])) == {published["lavagna"].uid}
    assert uids(calendar_of(files["events-zone-genova.ics"])) == {published["cancelled"].uid}
    assert uids(calendar_of(files["events-zone-ponente.ics"])) == set()
    assert uids(calendar_of(files["events-strategy-S4.ics"])) == {published["lavagna"].uid}
    zone_files = {name for name in files if name.startswith("events-zone-")}
    assert len(zone_files) == await count(db, Zone)


async def test_the_english_calendar_has_english_titles(db, published):
    italian = calendar_of((await files_in(db, "it"))["events.ics"])
    english = calendar_of((await files_in(db, "en"))["events.ics"])
    titles = {str(vevent["summary"]) for vevent in english.walk("VEVENT")}
    assert {"Tigullio assembly", "Annual review"} <= titles
    # Without an English title the Italian one stands.
    assert "Parco del Tigullio: incontro, domande e risposte" in titles
    assert "Assemblea del Tigullio" in {str(v["summary"]) for v in italian.walk("VEVENT")}
    assert "events" in str(english["x-wr-calname"]) and "eventi" in str(italian["x-wr-calname"])


async def monitoring_notifications(db) -> int:
    async with db.transaction() as session:
        return (
            await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.kind == NotificationKind.MONITORING.value)
            )
            or 0
        )


async def test_the_atom_feed_has_every_change_with_a_stable_id_and_a_link_to_its_page(
    db, published
):
    file = (await files_in(db))["changes.atom"]
    assert file.content_type.startswith("application/atom+xml")
    feed = feedparser.parse(file.body)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.id == "tag:cittametropolitana.genova.it,2017:psm-bot/changes/it"
    assert feed.feed.links[0].rel == "self"
    assert feed.feed.links[0].href == f"{BASE_URL}/dati/changes.atom"
    assert len(feed.entries) == await monitoring_notifications(db) == 21
    ids = [entry.id for entry in feed.entries]
    assert len(set(ids)) == len(ids) and all(i.startswith("tag:") for i in ids)

    titles = {entry.title: entry for entry in feed.entries}
    reached = next(
        entry for entry in feed.entries if entry.title.startswith("S4.1 obiettivo raggiunto")
    )
    assert reached.link == f"{BASE_URL}/azioni/S4.1/"
    assert "31.000" in reached.summary and "Dati di esempio" in reached.summary
    assert any(title.startswith("Nuova azione S5.2") for title in titles)
    assert any(title.startswith("S4.1 ora in ritardo") for title in titles)
    review = next(e for e in feed.entries if "2025" in e.title and "revisione" in e.title.lower())
    assert review.link == "https://pianostrategico.cittametropolitana.genova.it/"
    # The same data gives the same feed: its ids do not move.
    again = feedparser.parse((await files_in(db))["changes.atom"].body)
    assert [entry.id for entry in again.entries] == ids


async def test_the_english_feed_is_in_english_and_links_to_english_pages(db, published):
    feed = feedparser.parse((await files_in(db, "en"))["changes.atom"].body)
    assert not feed.bozo
    assert feed.feed.links[0].href == f"{BASE_URL}/en/dati/changes.atom"
    reached = next(e for e in feed.entries if e.title.startswith("S4.1 target reached"))
    assert reached.link == f"{BASE_URL}/en/azioni/S4.1/"
    assert "Sample data" in reached.summary
    assert any(e.title.startswith("New action S5.2") for e in feed.entries)


async def test_without_a_base_url_the_feed_links_to_itself_relatively(db, published):
    feed = feedparser.parse((await files_in(db, base_url=None))["changes.atom"].body)
    assert not feed.bozo
    assert [link.rel for link in feed.feed.links] == ["self"]
    reached = next(e for e in feed.entries if e.title.startswith("S4.1 obiettivo raggiunto"))
    assert reached.get("links", []) == []  # no page to link to


async def test_the_same_data_gives_the_same_bytes(db, published):
    first, second = await files_in(db), await files_in(db)
    assert first == second


async def test_an_empty_plan_still_gives_every_file(db):
    files = await files_in(db, base_url=None)
    assert csv_rows(files["actions.csv"]) == []
    assert json_document(files["events.json"])["rows"] == []
    assert uids(calendar_of(files["events.ics"])) == set()
    assert not feedparser.parse(files["changes.atom"].body).bozo


@pytest.mark.parametrize("language", ["it", "en"])
async def test_the_index_describes_every_file_in_its_language(db, language):
    files = await files_in(db, language)
    index = open_data_index(language)
    assert [name for name, _description in index] == list(files)
    descriptions = dict(index)
    word = "azioni" if language == "it" else "actions"
    assert word in descriptions["actions.csv"].lower()
    assert "Tigullio" in descriptions["events-zone-tigullio.ics"]


def test_the_documentation_describes_every_file_and_column():
    documentation = (ROOT / "docs" / "OPEN_DATA.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in documentation and "Città Metropolitana di Genova" in documentation
    for table in TABLES:
        section = documentation.split(f"### {table.name}", 1)
        assert len(section) == 2, f"no section for {table.name}"
        body = section[1].split("\n### ", 1)[0]
        for field in table.fields:
            assert f"| `{field.name}` |" in body, (table.name, field.name)
            line = body.split(f"| `{field.name}` |", 1)[1].split("\n", 1)[0]
            kind = line.split("|")[0].strip()
            assert kind.split(",")[0] == _documented_type(field.type), (table.name, line)
            assert ("may be empty" in kind) == field.nullable, (table.name, line)
    for name in ("events.ics", "events-zone-", "events-strategy-", "changes.atom", "schema.json"):
        assert name in documentation


def _documented_type(kind: FieldType) -> str:
    return {FieldType.LIST: "list"}.get(kind, kind.value)
