"""The plan's open data: its tables as CSV and JSON with their schema, the events as
iCalendar feeds and the plan's changes as an Atom feed, all from the database.

Nothing personal: the tables hold the plan, its indicators and its events; the participation
record appears only as counts, a count below the privacy threshold without its number.
CSV and JSON are the same in every language (both languages are columns); schema.json, the
calendars and the feed are written in the language asked for. `generated_at` is the time of
the data's last change, so the same data always gives the same bytes (and the same ETag).
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from urllib.parse import quote
from xml.etree import ElementTree

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.db.models import Event, Notification, Strategy
from bot.i18n import N_, TIMEZONE, _, current_language, use_locale
from bot.labels import localized
from bot.services import event_ics, opendata, plan
from bot.services.opendata import Row, Value
from bot.services.site import (
    Count,
    ParticipationFigures,
    PlanChange,
    participation_figures,
    plan_changes,
)
from bot.services.site_links import action_page_url, home_page_url
from bot.site import parts

PUBLISHER = "Città Metropolitana di Genova"
LICENCE = {
    "id": "CC-BY-4.0",
    "name": "Creative Commons Attribution 4.0 International",
    "url": "https://creativecommons.org/licenses/by/4.0/",
    "attribution": PUBLISHER,
}
# Tag URIs (RFC 4151) name the feed and its entries for good, whatever the site's address.
TAG_PREFIX = "tag:cittametropolitana.genova.it,2017:psm-bot/"
ATOM_NS = "http://www.w3.org/2005/Atom"
CHANGES_IN_FEED = 50

CSV_TYPE = "text/csv; charset=utf-8; header=present"
JSON_TYPE = "application/json"
ICS_TYPE = "text/calendar; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
LIST_SEPARATOR = ";"


@dataclass(frozen=True)
class OpenDataFile:
    content_type: str
    body: bytes


class FieldType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATE_TIME = "date-time"
    LIST = "list"  # of strings; one CSV cell, separated by LIST_SEPARATOR


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    description: str  # a message id, translated when the schema is written
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    description: str  # a message id
    fields: tuple[Field, ...]


def _field(name: str, kind: FieldType, description: str, *, nullable: bool = False) -> Field:
    return Field(name, kind, description, nullable)


STR, INT, NUM, BOOL = FieldType.STRING, FieldType.INTEGER, FieldType.NUMBER, FieldType.BOOLEAN
DAY, TIME, LIST = FieldType.DATE, FieldType.DATE_TIME, FieldType.LIST

_SAMPLE = _field("sample", BOOL, N_("True for sample data, for demonstration only"))
_UNCERTAIN = _field("uncertain", BOOL, N_("True when the sources do not fully confirm it"))
_ACTION = _field("action_code", STR, N_("The action (actions.code)"))
_UNIT = _field("unit", STR, N_("Unit of measurement of the values"), nullable=True)
_UPDATED = _field("updated_at", TIME, N_("Last change (Europe/Rome time)"))
_ZONES = _field("zone_ids", LIST, N_("Zones concerned (zones.id)"))

TABLES: tuple[Table, ...] = (
    Table(
        "strategies",
        N_("The plan's strategies"),
        (
            _field("id", STR, N_("Strategy identifier")),
            _field("name_it", STR, N_("Name in Italian")),
            _field("name_en", STR, N_("Name in English")),
            _UNCERTAIN,
        ),
    ),
    Table(
        "zones",
        N_("The homogeneous zones of the metropolitan city"),
        (
            _field("id", STR, N_("Zone identifier")),
            _field("name", STR, N_("Name of the zone")),
            _field("detail", STR, N_("What the zone covers"), nullable=True),
            _UNCERTAIN,
        ),
    ),
    Table(
        "comuni",
        N_("The comuni and their zone"),
        (
            _field("istat", STR, N_("ISTAT code of the comune")),
            _field("name", STR, N_("Name of the comune")),
            _field("zone_id", STR, N_("Its zone (zones.id)")),
            _field("population", INT, N_("Resident population"), nullable=True),
            _UNCERTAIN,
        ),
    ),
    Table(
        "actions",
        N_("The plan's actions: status, progress, dates and funding"),
        (
            _field("code", STR, N_("Code of the action")),
            _field("strategy_id", STR, N_("Its strategy (strategies.id)")),
            _field("title_it", STR, N_("Title in Italian")),
            _field("title_en", STR, N_("Title in English")),
            _field("description_it", STR, N_("Description in Italian"), nullable=True),
            _field("description_en", STR, N_("Description in English"), nullable=True),
            _ZONES,
            _field("comuni_istat", LIST, N_("Comuni concerned (comuni.istat)")),
            _field("responsible", STR, N_("Who is responsible"), nullable=True),
            _field(
                "status",
                STR,
                N_("Status: planned, in_progress, delayed, completed or suspended"),
            ),
            _field("progress_pct", INT, N_("Progress in percent, 0 to 100")),
            _field("start_date", DAY, N_("Date the action started or starts"), nullable=True),
            _field("end_date", DAY, N_("End date, expected or actual"), nullable=True),
            _field("funding_source", STR, N_("Source of the funding"), nullable=True),
            _field("funding_amount_eur", NUM, N_("Amount of the funding, in euros"), nullable=True),
            _field("links", LIST, N_("Web pages about it")),
            _SAMPLE,
            _UPDATED,
        ),
    ),
    Table(
        "indicators",
        N_("What measures each action: baseline and target"),
        (
            _ACTION,
            _field("indicator_code", STR, N_("Indicator code, unique within its action")),
            _field("name_it", STR, N_("Name in Italian")),
            _field("name_en", STR, N_("Name in English")),
            _UNIT,
            _field("baseline", NUM, N_("Value at the start"), nullable=True),
            _field("baseline_year", INT, N_("Year of the baseline"), nullable=True),
            _field("target", NUM, N_("Value to reach"), nullable=True),
            _field("target_year", INT, N_("Year the target is due"), nullable=True),
            _SAMPLE,
        ),
    ),
    Table(
        "measurements",
        N_("Every measured value of the indicators"),
        (
            _ACTION,
            _field("indicator_code", STR, N_("The indicator (indicators.indicator_code)")),
            _field(
                "period", STR, N_("Period: a year (2024), a month (2024-06) or a quarter (2024-Q2)")
            ),
            _field("value", NUM, N_("The value measured")),
            _UNIT,
            _field("source", STR, N_("Where the value comes from"), nullable=True),
            _field("recorded_at", TIME, N_("When it was recorded (Europe/Rome time)")),
            _SAMPLE,
        ),
    ),
    Table(
        "reviews",
        N_("The plan's annual reviews"),
        (
            _field("year", INT, N_("Year reviewed")),
            _field("published_on", DAY, N_("Date the review was published"), nullable=True),
            _field("summary_it", STR, N_("Summary in Italian"), nullable=True),
            _field("summary_en", STR, N_("Summary in English"), nullable=True),
            _field("document_url", STR, N_("Address of the document"), nullable=True),
            _SAMPLE,
        ),
    ),
    Table(
        "events",
        N_("Meetings, reviews and consultations of the plan"),
        (
            _field("id", INT, N_("Event number")),
            _field("uid", STR, N_("Stable identifier (the iCalendar UID)")),
            _field(
                "kind",
                STR,
                N_("Kind: meeting, network_meeting, annual_review, consultation or other"),
            ),
            _field("status", STR, N_("Status: scheduled, changed or cancelled")),
            _field("title_it", STR, N_("Title in Italian")),
            _field("title_en", STR, N_("Title in English"), nullable=True),
            _field("description_it", STR, N_("Description in Italian"), nullable=True),
            _field("description_en", STR, N_("Description in English"), nullable=True),
            _field("starts_at", TIME, N_("Start (Europe/Rome time)")),
            _field("ends_at", TIME, N_("End (Europe/Rome time)"), nullable=True),
            _field("place", STR, N_("Place where it is held"), nullable=True),
            _field(
                "comune_istat", STR, N_("Comune where it is held (comuni.istat)"), nullable=True
            ),
            _field("online_url", STR, N_("Address to take part online"), nullable=True),
            _ZONES,
            _field("strategy_ids", LIST, N_("Strategies concerned (strategies.id)")),
            _field("revision", INT, N_("Grows each time the time or place changes")),
            _UPDATED,
        ),
    ),
    Table(
        "participation",
        N_("Contributions to the participation record, as counts only"),
        (
            _field(
                "dimension",
                STR,
                N_("What is counted by: total, kind, month, zone, strategy or action"),
            ),
            _field(
                "key",
                STR,
                N_(
                    "The kind, month (YYYY-MM), zone id, strategy id or action code; "
                    "empty for the total"
                ),
            ),
            _field(
                "count",
                INT,
                N_("Number of contributions; empty when fewer than 5 or withheld"),
                nullable=True,
            ),
            _field(
                "fewer_than_5",
                BOOL,
                N_(
                    "True when fewer than 5: the number is not given, so nobody can be singled "
                    "out; empty when withheld"
                ),
                nullable=True,
            ),
            _field(
                "withheld",
                BOOL,
                N_(
                    "True when withheld so that a count below 5 cannot be worked out from the "
                    "others and the total: neither the number nor whether it is below 5 is given"
                ),
            ),
        ),
    ),
)
TABLE_NAMES = tuple(table.name for table in TABLES)


# --- reading the database ------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    tables: dict[str, list[Row]]
    events: list[Event]
    zone_of: dict[str, str]
    changes: list[PlanChange]
    change_keys: dict[int, str]  # notification id → source key
    generated_at: datetime


async def _read(session: AsyncSession) -> _Data:
    generated_at = await opendata.last_change(session) or datetime(1970, 1, 1, tzinfo=UTC)
    events = await opendata.all_events(session)
    changes = await plan_changes(session, limit=CHANGES_IN_FEED)
    figures = await participation_figures(session, now=generated_at)
    tables = {
        "strategies": await opendata.strategy_rows(session),
        "zones": await opendata.zone_rows(session),
        "comuni": await opendata.comune_rows(session),
        "actions": await opendata.action_rows(session),
        "indicators": await opendata.indicator_rows(session),
        "measurements": await opendata.measurement_rows(session),
        "reviews": await opendata.review_rows(session),
        "events": opendata.event_rows(events),
        "participation": participation_rows(figures),
    }
    return _Data(
        tables=tables,
        events=events,
        zone_of=await opendata.zone_of_comuni(session),
        changes=changes,
        change_keys=await _source_keys(session, [change.notification_id for change in changes]),
        generated_at=generated_at,
    )


async def _source_keys(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    found = await session.execute(
        select(Notification.id, Notification.source_key).where(Notification.id.in_(ids))
    )
    return {key: value for key, value in found}


def participation_rows(figures: ParticipationFigures) -> list[Row]:
    rows = [_count_row("total", "", figures.total)]
    for dimension, counts in (
        ("kind", figures.by_kind),
        ("month", figures.by_month),
        ("zone", figures.by_zone),
        ("strategy", figures.by_strategy),
        ("action", figures.by_action),
    ):
        rows += [_count_row(dimension, key, count) for key, count in counts]
    return rows


def _count_row(dimension: str, key: str, count: Count) -> Row:
    return {
        "dimension": dimension,
        "key": key,
        "count": count.shown,
        "fewer_than_5": count.fewer_than_threshold,
        "withheld": count.withheld,
    }


# --- the files -----------------------------------------------------------------------------


async def open_data_files(
    db: Database, *, language: str, base_url: str | None
) -> dict[str, OpenDataFile]:
    """Every open data file, by its path in the data folder (`/dati/`)."""
    async with db.transaction() as session:
        data = await _read(session)
    with use_locale(language):
        files: dict[str, OpenDataFile] = {}
        for table in TABLES:
            rows = data.tables[table.name]
            files[f"{table.name}.csv"] = OpenDataFile(CSV_TYPE, table_csv(table, rows))
            files[f"{table.name}.json"] = OpenDataFile(
                JSON_TYPE, table_json(table, rows, data.generated_at)
            )
        files["schema.json"] = OpenDataFile(JSON_TYPE, schema_json())
        files.update(_calendars(data, current_language()))
        files["changes.atom"] = OpenDataFile(
            ATOM_TYPE, changes_atom(data, current_language(), base_url)
        )
    return files


def _cell(value: Value) -> str:
    """A CSV cell: ISO dates, Rome times with their offset, a decimal point, lists joined."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return LIST_SEPARATOR.join(value)
    if isinstance(value, datetime | date | float):
        return str(_json_value(value))
    return str(value)


def _json_value(value: Value) -> Value:
    if isinstance(value, datetime):
        return value.astimezone(TIMEZONE).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def table_csv(table: Table, rows: Iterable[Row]) -> bytes:
    """RFC 4180: a header row, CRLF line ends, quotes only where needed; UTF-8."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(field.name for field in table.fields)
    for row in rows:
        writer.writerow(_cell(row[field.name]) for field in table.fields)
    return out.getvalue().encode("utf-8")


def table_json(table: Table, rows: Iterable[Row], generated_at: datetime) -> bytes:
    """One row a line: readable, and written by json's C encoder (an indent is not)."""
    head = {
        "licence": LICENCE,
        "generated_at": _json_value(generated_at),
        "schema": f"schema.json#{table.name}",
    }
    lines = [
        _compact({field.name: _json_value(row[field.name]) for field in table.fields})
        for row in rows
    ]
    body = ",\n".join(lines)
    text = _compact(head)[:-1] + ',"rows":[' + (f"\n{body}\n" if lines else "") + "]}\n"
    return text.encode("utf-8")


def _compact(document: object) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _json_bytes(document: object) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def schema_json() -> bytes:
    """A JSON Schema (2020-12) of one row of each table, in the current language;
    `schema.json#actions` names the rows of actions.csv and actions.json."""
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": _("Open data of the Metropolitan Strategic Plan of Genoa"),
        "description": _(
            "CSV: UTF-8, comma-separated, a header row (RFC 4180); an empty cell is a missing "
            "value; lists are separated by “;”; true and false for yes and no. JSON: the same "
            "rows under “rows”, with the licence. Dates in ISO 8601, times in Europe/Rome time "
            "with their offset, numbers with a decimal point."
        ),
        "licence": LICENCE,
        "$defs": {table.name: _table_schema(table) for table in TABLES},
    }
    return _json_bytes(document)


def _table_schema(table: Table) -> dict:
    return {
        "$anchor": table.name,
        "title": _(table.description),
        "x-files": [f"{table.name}.csv", f"{table.name}.json"],
        "type": "object",
        "properties": {field.name: _field_schema(field) for field in table.fields},
        "required": [field.name for field in table.fields],
        "additionalProperties": False,
    }


def _field_schema(field: Field) -> dict:
    schema: dict[str, object]
    if field.type is FieldType.LIST:
        schema = {"type": "array", "items": {"type": "string"}}
    elif field.type in (FieldType.DATE, FieldType.DATE_TIME):
        schema = {"type": "string", "format": field.type.value}
    else:
        schema = {"type": field.type.value}
    if field.nullable:
        schema["type"] = [schema["type"], "null"]
    return {**schema, "description": _(field.description)}


# --- calendars -----------------------------------------------------------------------------


def _calendars(data: _Data, language: str) -> dict[str, OpenDataFile]:
    def calendar(events: Iterable[Event], name: str) -> OpenDataFile:
        body = event_ics.to_calendar(events, language, data.generated_at, name=name)
        return OpenDataFile(ICS_TYPE, body)

    files = {"events.ics": calendar(data.events, _calendar_name())}
    for zone in data.tables["zones"]:
        zone_id = str(zone["id"])
        of_zone = [e for e in data.events if opendata.concerns_zone(e, zone_id, data.zone_of)]
        files[f"events-zone-{zone_id}.ics"] = calendar(of_zone, _calendar_name(str(zone["name"])))
    for strategy in data.tables["strategies"]:
        strategy_id = str(strategy["id"])
        of_strategy = [e for e in data.events if strategy_id in e.strategies]
        name = _calendar_name(_strategy_label(strategy))
        files[f"events-strategy-{strategy_id}.ics"] = calendar(of_strategy, name)
    return files


def _calendar_name(of: str | None = None) -> str:
    plan_name = _("Metropolitan Strategic Plan of Genoa: events")
    return f"{plan_name} · {of}" if of else plan_name


def _strategy_label(row: Row | dict) -> str:
    strategy = Strategy(
        id=row["id"], name_it=row["name_it"], name_en=row["name_en"], uncertain=row["uncertain"]
    )
    return plan.strategy_label(strategy)


# --- the feed of the plan's changes --------------------------------------------------------


def changes_atom(data: _Data, language: str, base_url: str | None) -> bytes:
    """Atom 1.0 (RFC 4287): the newest changes of the plan, in the current language."""
    ElementTree.register_namespace("", ATOM_NS)
    feed = ElementTree.Element(_atom("feed"), {"xml:lang": language})
    _text(feed, "id", f"{TAG_PREFIX}changes/{language}")
    _text(feed, "title", _("Metropolitan Strategic Plan of Genoa: what changes"))
    _text(
        feed,
        "subtitle",
        _(
            "New actions, changes of status and progress, new values, targets reached, "
            "annual reviews."
        ),
    )
    newest = max((change.at for change in data.changes), default=data.generated_at)
    _text(feed, "updated", _atom_time(newest))
    self_link = (
        f"{home_page_url(base_url, language)}dati/changes.atom" if base_url else "changes.atom"
    )
    _link(feed, self_link, "self", "application/atom+xml")
    if base_url:
        _link(feed, home_page_url(base_url, language), "alternate", "text/html")
    author = ElementTree.SubElement(feed, _atom("author"))
    _text(author, "name", PUBLISHER)
    _text(feed, "rights", f"{LICENCE['id']} · {PUBLISHER} · {LICENCE['url']}")
    _text(feed, "generator", "psm-bot")
    for change in data.changes:
        _entry(feed, change, data.change_keys.get(change.notification_id), language, base_url)
    ElementTree.indent(feed)
    return ElementTree.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def _entry(
    feed: ElementTree.Element,
    change: PlanChange,
    source_key: str | None,
    language: str,
    base_url: str | None,
) -> None:
    entry = ElementTree.SubElement(feed, _atom("entry"))
    key = source_key or f"notification/{change.notification_id}"
    _text(entry, "id", TAG_PREFIX + quote(key, safe=":@/-._~"))
    _text(entry, "title", change_title(change))
    _text(entry, "updated", _atom_time(change.at))
    _text(entry, "published", _atom_time(change.at))
    ElementTree.SubElement(entry, _atom("category"), {"term": change.kind})
    if change.strategy_id:
        ElementTree.SubElement(
            entry, _atom("category"), {"term": change.strategy_id, "scheme": "strategy"}
        )
    if change.payload.get("sample"):
        ElementTree.SubElement(entry, _atom("category"), {"term": "sample"})
    link = _change_link(change, language, base_url)
    if link:
        _link(entry, link, "alternate", "text/html")
    _text(entry, "summary", change_summary(change))


def _change_link(change: PlanChange, language: str, base_url: str | None) -> str | None:
    if base_url and change.action_code:
        return action_page_url(base_url, change.action_code, language)
    document = change.payload.get("link")
    if isinstance(document, str) and document.startswith(("https://", "http://")):
        return document
    return home_page_url(base_url, language) if base_url else None


def _atom(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _text(parent: ElementTree.Element, tag: str, text: str) -> None:
    ElementTree.SubElement(parent, _atom(tag)).text = text


def _link(parent: ElementTree.Element, href: str, rel: str, kind: str) -> None:
    ElementTree.SubElement(parent, _atom("link"), {"rel": rel, "type": kind, "href": href})


def _atom_time(moment: datetime) -> str:
    return moment.astimezone(TIMEZONE).isoformat(timespec="seconds")


def change_title(change: PlanChange) -> str:
    """One line about the change, in the current language (plain text)."""
    payload = change.payload
    if change.kind == "review":
        return _("The plan's annual review {year}").format(year=payload.get("year"))
    lines = {
        "new_action": N_("New action {code}: {name}"),
        "status": N_("{code} now {status}: {name}"),
        "progress": N_("{code} at {percent}%: {name}"),
        "date_slipped": N_("{code} ends later, on {date}: {name}"),
        "target_reached": N_("{code} target reached: {indicator}"),
        "measurement": N_("{code} new value: {indicator}"),
    }
    line = _(lines[change.kind]) if change.kind in lines else "{code}: {name}"
    return line.format(
        code=payload.get("action", ""),
        name=_localized(payload.get("name")),
        status=parts.status_label(str(payload.get("new", ""))),
        percent=payload.get("progress"),
        date=parts.day(payload.get("new")) if change.kind == "date_slipped" else "",
        indicator=_localized(payload.get("indicator")),
    )


def change_summary(change: PlanChange) -> str:
    """What changed, in a few plain-text lines in the current language."""
    payload = change.payload
    lines = [] if change.kind == "review" else [_localized(payload.get("title"))]
    lines.append(parts.change_text(change))
    if change.kind in ("measurement", "target_reached"):
        lines.append(_target_line(payload))
    if change.kind == "review":
        lines.append(_localized(payload.get("summary")))
    if payload.get("sample"):
        lines.append(_("Sample data, for demonstration only."))
    return "\n".join(line for line in lines if line)


def _target_line(payload: dict) -> str:
    if payload.get("target") is None:
        return ""
    target = parts.value_text(payload["target"], payload.get("unit"))
    if payload.get("target_year"):
        return _("Target: {target} by {year}").format(target=target, year=payload["target_year"])
    return _("Target: {target}").format(target=target)


def _localized(value: str | dict | None) -> str:
    return localized(value, current_language())


# --- the index of the files ----------------------------------------------------------------


def open_data_index(language: str) -> list[tuple[str, str]]:
    """(file name, description in `language`) of every file, for the /dati/ page."""
    reference = _reference()
    with use_locale(language):
        index = []
        for table in TABLES:
            index.append((f"{table.name}.csv", _("{what} (CSV)").format(what=_(table.description))))
            index.append(
                (f"{table.name}.json", _("{what} (JSON)").format(what=_(table.description)))
            )
        index.append(("schema.json", _("What every file and column holds (JSON Schema)")))
        index.append(("events.ics", _("Every event of the plan, to subscribe to (iCalendar)")))
        for zone_id, zone_name in reference.zones:
            index.append(
                (
                    f"events-zone-{zone_id}.ics",
                    _("Events of zone {zone} (iCalendar)").format(zone=zone_name),
                )
            )
        for strategy in reference.strategies:
            index.append(
                (
                    f"events-strategy-{strategy['id']}.ics",
                    _("Events of strategy {strategy} (iCalendar)").format(
                        strategy=_strategy_label(strategy)
                    ),
                )
            )
        index.append(("changes.atom", _("What changes in the plan, to follow (Atom feed)")))
    return index


@dataclass(frozen=True)
class _Reference:
    zones: tuple[tuple[str, str], ...]
    strategies: tuple[dict, ...]


@cache
def _reference() -> _Reference:
    """Zones and strategies as seeded from the plan's file (the index needs no database)."""
    data = plan.load_plan()
    return _Reference(
        zones=tuple((zone["id"], zone["name_it"]) for zone in data.zones),
        strategies=tuple(
            {
                "id": item["id"],
                "name_it": item["name_it"],
                "name_en": item.get("name_en") or item["name_it"],
                "uncertain": bool(item.get("uncertain", False)),
            }
            for item in data.strategies
        ),
    )
