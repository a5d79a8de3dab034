"""Reading monitoring data files into flat records, each with where it came from.

CSV, XLSX, JSON and YAML all become `RawRecord`s (table, fields, where), so one validator
reports a bad row by its file line, sheet row or JSON path. Nothing here touches the database.
Places and problems are `Reason`s: read in the staff member's language, English in logs.

- CSV: one table per file, named by a `record` column on each row or by the file name
  (`actions.csv`, `indicators.csv`, `measurements.csv`, `reviews.csv`), as spreadsheet
  programs save it: `,`, `;` or tab separated (the one the header uses), quoted cells with
  doubled quotes, separators and line breaks inside, UTF-8 with or without BOM (or UTF-16
  with BOM, Excel's "Unicode text"), CRLF or LF line ends.
- XLSX: one sheet per table, named like the tables; other sheets (notes) are ignored.
- JSON / YAML: `{actions: [...], reviews: [...]}`; an action may nest its `indicators`, an
  indicator its `measurements`, and `funding: {source, amount_eur}`; a top-level
  `sample: true` marks every action and review as sample data.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.i18n import N_, _

ACTION, INDICATOR, MEASUREMENT, REVIEW = "action", "indicator", "measurement", "review"
TABLES = (ACTION, INDICATOR, MEASUREMENT, REVIEW)
_TABLE_NAMES = {
    **{table: table for table in TABLES},
    **{table + "s": table for table in TABLES},
    "azioni": ACTION,
    "indicatori": INDICATOR,
    "misure": MEASUREMENT,
    "misurazioni": MEASUREMENT,
    "revisioni": REVIEW,
}
RECORD_COLUMN = "record"
# Bounds on one import, so a file can neither hold the bot for minutes nor fill its memory:
# records (rows or list items, all files together), bytes of a file, bytes of an unpacked
# .xlsx (it is a zip archive), and columns of a sheet.
MAX_RECORDS = 20_000
MAX_FILE_BYTES = 10_000_000
MAX_XLSX_UNPACKED_BYTES = 60_000_000
MAX_COLUMNS = 200
_DELIMITERS = (",", ";", "\t")
# Set on a record whose item was not a mapping of fields (a bare value in a list).
NOT_A_MAPPING = "__not_a_mapping__"
_LINE_KEY = "__line__"


class Reason:
    """Something a person reads about a file: an English catalog id (marked with N_) and
    its values. `str()` is the English text (command line, logs, stored errors); `text()`
    the text in the current language, with any nested reason (a place) translated too."""

    __slots__ = ("message", "values")

    def __init__(self, message: str, **values: object) -> None:
        self.message, self.values = message, values

    def __str__(self) -> str:
        return self.message.format(**self.values)

    def __repr__(self) -> str:
        return f"Reason({str(self)!r})"

    def text(self) -> str:
        return _(self.message).format(**{k: localized(v) for k, v in self.values.items()})


def localized(value: object) -> object:
    """A reason in the current language; anything else (a plain place) as it is."""
    return value.text() if isinstance(value, Reason) else value


class SourceError(ValueError):
    """A file that cannot be read at all (format, encoding, structure)."""

    def __init__(self, message: str, **values: object) -> None:
        self.reason = Reason(message, **values)
        super().__init__(str(self.reason))

    def text(self) -> str:
        return self.reason.text()


@dataclass(frozen=True)
class RawRecord:
    table: str
    fields: Mapping[str, Any]
    where: Reason | str  # a file line, a sheet row, a JSON path


def line_of(name: str, line: int) -> Reason:
    return Reason(N_("{file} line {line}"), file=name, line=line)


def table_named(name: str | None) -> str | None:
    """`actions`, `Azioni`, `measurement` … → the table; anything else → None."""
    return _TABLE_NAMES.get(normalize_key(name or ""))


def normalize_key(key: object) -> str:
    return str(key).strip().lower().replace(" ", "_").replace("-", "_")


def read_files(paths: Iterable[Path]) -> list[RawRecord]:
    """The records of several files, at most MAX_RECORDS in all (else SourceError)."""
    records: list[RawRecord] = []
    for path in paths:
        records += read_file(path)
        if len(records) > MAX_RECORDS:
            raise too_many_records(path.name)
    return records


def read_file(path: Path) -> list[RawRecord]:
    """The records of one file, by its suffix: .csv, .xlsx, .json, .yaml/.yml."""
    try:
        with path.open("rb") as file:
            content = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        reason = error.strerror or error
        raise SourceError(N_("cannot read {path}: {reason}"), path=path, reason=reason) from error
    return read_named(content, path.name)


def read_named(content: bytes, name: str) -> list[RawRecord]:
    """The records of a file's bytes, by its name's suffix (an upload, a file read).

    Slow for a large file (seconds): call it off the event loop (`asyncio.to_thread`).
    """
    if len(content) > MAX_FILE_BYTES:
        raise SourceError(
            N_("{file}: the file is larger than {size} MB"),
            file=name,
            size=MAX_FILE_BYTES // 1_000_000,
        )
    suffix = Path(name).suffix.lower()
    if suffix == ".xlsx":
        return read_xlsx(content, name)
    kinds = {".csv": "csv", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
    if suffix not in kinds:
        raise SourceError(
            N_("{file}: unsupported file type; use .csv, .xlsx, .json or .yaml"), file=name
        )
    return read_bytes(content, kinds[suffix], name)


def read_bytes(content: bytes, kind: str, name: str) -> list[RawRecord]:
    """Records from downloaded or read bytes; kind is csv, json or yaml."""
    if kind == "csv":
        return read_csv(_decoded(content, name), name)
    if kind == "json":
        try:
            data = json.loads(_decoded(content, name))
        except json.JSONDecodeError as error:
            raise SourceError(
                N_("{where}: invalid JSON (column {column})"),
                where=line_of(name, error.lineno),
                column=error.colno,
            ) from error
        except RecursionError as error:
            raise _too_deep(name) from error
        return _bounded(_nested_records(data, name, lines=False), name)
    if kind == "yaml":
        data = _load_yaml(_decoded(content, name), name)
        return _bounded(_nested_records(data, name, lines=True), name)
    raise SourceError(N_("{file}: unsupported data kind {kind}"), file=name, kind=kind)


def _decoded(content: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), or UTF-16 with its BOM (Excel's "Unicode text")."""
    try:
        if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return content.decode("utf-16")
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceError(
            N_(
                "{file}: not UTF-8 text (save it as UTF-8; in Excel: “CSV UTF-8 (Comma delimited)”)"
            ),
            file=name,
        ) from error


# --- tables: CSV and XLSX --------------------------------------------------------------


def read_csv(text: str, name: str) -> list[RawRecord]:
    """Rows as Excel and LibreOffice write them; each where the line it starts on.

    Read row by row, stopping at the record limit; a cell longer than the csv module's
    field limit is refused with its line.
    """
    text = text.replace("\r\n", "\n")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header = _csv_row(reader, name, 1)
    if not header:
        raise SourceError(N_("{file}: empty file"), file=name)
    default_table = table_named(Path(name).stem)

    def rows() -> Iterator[tuple[int, list[str]]]:
        ended = reader.line_num
        while (row := _csv_row(reader, name, ended + 1)) is not None:
            yield ended + 1, row
            ended = reader.line_num

    return _table_records(header, rows(), default_table, lambda n: line_of(name, n), name)


def _csv_row(reader, name: str, line: int) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as error:
        raise SourceError(
            N_("{where}: a cell is too long or badly quoted ({reason})"),
            where=line_of(name, line),
            reason=str(error),
        ) from error


def _delimiter(text: str) -> str:
    """The separator the header uses most outside quotes: `,` `;` or tab (`,` if none).

    Guessed from the header alone on purpose: its names hold no separators, where a row's
    quoted titles may hold any (csv.Sniffer, given the header, also guessed that quotes
    are never doubled, and split "Progetto ""Porto Antico"", fase 2" in three).
    """
    header, quoted = [], False
    for char in text.split("\n", 1)[0]:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            header.append(char)
    counts = {delimiter: header.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else _DELIMITERS[0]


def read_xlsx(content: bytes, name: str) -> list[RawRecord]:
    from openpyxl import load_workbook  # only the staff's import needs it

    _check_unpacked_size(content, name)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise SourceError(
            N_("{file}: not a readable .xlsx file (save it again with the spreadsheet program)"),
            file=name,
        ) from error
    records: list[RawRecord] = []
    try:
        sheets = [sheet for sheet in workbook.worksheets if table_named(sheet.title)]
        if not sheets:
            raise SourceError(
                N_("{file}: no sheet named actions, indicators, measurements or reviews"),
                file=name,
            )
        for sheet in sheets:
            _check_dimensions(sheet, name)
        for sheet in sheets:
            records.extend(_sheet_records(sheet, name))
            if len(records) > MAX_RECORDS:
                raise too_many_records(name)
    finally:
        workbook.close()
    return records


def _check_unpacked_size(content: bytes, name: str) -> None:
    """An .xlsx is a zip archive: refuse it unread when it would unpack too large."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        return  # not a zip at all: openpyxl explains it
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise SourceError(
            N_("{file}: the workbook unpacks to more than {size} MB; keep only the data sheets"),
            file=name,
            size=MAX_XLSX_UNPACKED_BYTES // 1_000_000,
        )


def _check_dimensions(sheet, name: str) -> None:
    """The size a sheet declares, before any of its rows is read."""
    rows, columns = sheet.max_row or 0, sheet.max_column or 0
    if rows > MAX_RECORDS + 1:
        raise SourceError(
            N_("{file}, sheet {sheet}: {rows} rows; at most {limit} can be imported at once"),
            file=name,
            sheet=sheet.title,
            rows=rows,
            limit=MAX_RECORDS,
        )
    if columns > MAX_COLUMNS:
        raise SourceError(
            N_("{file}, sheet {sheet}: {columns} columns; at most {limit}"),
            file=name,
            sheet=sheet.title,
            columns=columns,
            limit=MAX_COLUMNS,
        )


def _sheet_records(sheet, name: str) -> list[RawRecord]:
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if not header:
        return []
    numbered = ((number, list(row)) for number, row in enumerate(rows, start=2))

    def where(row: int) -> Reason:
        return Reason(N_("{file}, sheet {sheet}, row {row}"), file=name, sheet=sheet.title, row=row)

    header_where = Reason(N_("{file}, sheet {sheet}"), file=name, sheet=sheet.title)
    return _table_records(header, numbered, table_named(sheet.title), where, header_where)


def _table_records(
    header: Iterable[Any],
    rows: Iterable[tuple[int, list[Any]]],
    default_table: str | None,
    where,
    header_where: Reason | str,
) -> list[RawRecord]:
    columns = [normalize_key(column) if column is not None else "" for column in header]
    if RECORD_COLUMN not in columns and default_table is None:
        raise SourceError(
            N_(
                "{where}: add a 'record' column (action, indicator, measurement or review) "
                "or name the file or sheet after the table, such as actions.csv"
            ),
            where=header_where,
        )
    records: list[RawRecord] = []
    for number, row in rows:
        if len(records) == MAX_RECORDS:
            raise too_many_records(header_where)
        fields = {
            column: value
            for column, value in zip(columns, row, strict=False)
            if column and not _blank(value)
        }
        if not fields:
            continue
        table = default_table
        if RECORD_COLUMN in fields:
            table = table_named(str(fields.pop(RECORD_COLUMN)))
        records.append(RawRecord(table or "?", fields, where(number)))
    return records


def too_many_records(where: Reason | str) -> SourceError:
    return SourceError(
        N_("{where}: more than {limit} records; import the data in smaller files"),
        where=where,
        limit=MAX_RECORDS,
    )


def _too_deep(name: str) -> SourceError:
    return SourceError(N_("{file}: the data is nested too deeply to be read"), file=name)


def _bounded(records: Iterator[RawRecord], name: str) -> list[RawRecord]:
    """At most MAX_RECORDS of them, else SourceError (the rest is never produced)."""
    found: list[RawRecord] = []
    for record in records:
        if len(found) == MAX_RECORDS:
            raise too_many_records(name)
        found.append(record)
    return found


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- documents: JSON and YAML ------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers on which line each mapping starts."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    mapping[_LINE_KEY] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _load_yaml(text: str, name: str) -> Any:
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except RecursionError as error:
        raise _too_deep(name) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        if mark is None:
            raise SourceError(N_("{where}: invalid YAML"), where=name) from error
        raise SourceError(
            N_("{where}: invalid YAML (column {column})"),
            where=line_of(name, mark.line + 1),
            column=mark.column + 1,
        ) from error


def _nested_records(data: Any, name: str, *, lines: bool) -> Iterator[RawRecord]:
    if not isinstance(data, dict):
        raise SourceError(
            N_("{file}: expected a mapping with 'actions' and/or 'reviews'"), file=name
        )
    sample = data.get("sample")

    def where(item: Any, path: str) -> Reason | str:
        if lines and isinstance(item, dict) and _LINE_KEY in item:
            return line_of(name, item[_LINE_KEY])
        return f"{name} {path}"

    for index, action in enumerate(_list(data, "actions", name)):
        path = f"actions[{index}]"
        yield from _action_records(action, path, where, sample)
    for table in (INDICATOR, MEASUREMENT):
        for index, item in enumerate(_list(data, table + "s", name)):
            yield RawRecord(table, _fields(item), where(item, f"{table}s[{index}]"))
    for index, review in enumerate(_list(data, "reviews", name)):
        yield RawRecord(
            REVIEW, _with_sample(_fields(review), sample), where(review, f"reviews[{index}]")
        )


def _list(data: dict, key: str, name: str) -> list:
    items = data.get(key) or []
    if not isinstance(items, list):
        raise SourceError(N_("{file}: '{key}' must be a list"), file=name, key=key)
    return items


def _action_records(action: Any, path: str, where, sample: Any) -> Iterator[RawRecord]:
    fields = _with_sample(_fields(action), sample)
    indicators = fields.pop("indicators", None) or []
    funding = fields.pop("funding", None)
    if isinstance(funding, dict):
        fields.setdefault("funding_source", funding.get("source"))
        fields.setdefault("funding_amount_eur", funding.get("amount_eur"))
    elif funding is not None:
        fields["funding_source"] = funding
    yield RawRecord(ACTION, fields, where(action, path))
    code = fields.get("code")
    for index, indicator in enumerate(indicators if isinstance(indicators, list) else []):
        yield from _indicator_records(indicator, f"{path}.indicators[{index}]", where, code)


def _indicator_records(indicator: Any, path: str, where, action_code: Any) -> Iterator[RawRecord]:
    fields = _fields(indicator)
    fields.setdefault("action", action_code)
    measurements = fields.pop("measurements", None) or []
    yield RawRecord(INDICATOR, fields, where(indicator, path))
    for index, measurement in enumerate(measurements if isinstance(measurements, list) else []):
        measured = _fields(measurement)
        measured.setdefault("action", action_code)
        measured.setdefault("indicator", fields.get("code"))
        yield RawRecord(MEASUREMENT, measured, where(measurement, f"{path}.measurements[{index}]"))


def _fields(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {NOT_A_MAPPING: item}
    return {
        normalize_key(key): value
        for key, value in item.items()
        if key != _LINE_KEY and not _blank(value)
    }


def _with_sample(fields: dict[str, Any], sample: Any) -> dict[str, Any]:
    if sample is not None:
        fields.setdefault("sample", sample)
    return fields
