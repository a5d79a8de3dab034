"""Validating monitoring records against the plan's reference data (pure, no database).

Every problem is collected with its row's place (file line, sheet row, JSON path) and a
reason; a dataset with any problem is refused whole, so nothing is ever half-imported.
Reasons are `Reason`s, read in the staff member's language.

Numbers typed as text may use a comma or a point for decimals and the other one between
thousands ("1.250,50", "1,250.50", "1.250.000"); one that could be read two ways ("1.250":
1250 or 1.25?) or whose separators make no sense ("1,25.50") is refused, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.db.models import ActionStatus
from bot.i18n import N_
from bot.services.monitoring_sources import (
    ACTION,
    INDICATOR,
    MEASUREMENT,
    NOT_A_MAPPING,
    REVIEW,
    RawRecord,
    Reason,
    localized,
)
from feeds.classify import fold

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4]|-S[12])?$")
MAX_ERRORS = 200

_FIELDS = {
    ACTION: (
        "code", "strategy", "title_it", "title_en", "description_it", "description_en",
        "zones", "comuni", "responsible", "status", "progress", "start", "end",
        "funding_source", "funding_amount_eur", "links", "sample",
    ),
    INDICATOR: (
        "action", "code", "name_it", "name_en", "unit", "baseline", "baseline_year",
        "target", "target_year",
    ),
    MEASUREMENT: ("action", "indicator", "period", "value", "source"),
    REVIEW: ("year", "date", "summary_it", "summary_en", "document", "sample"),
}  # fmt: skip
_ALIASES = {
    "progress_pct": "progress",
    "start_date": "start",
    "end_date": "end",
    "target_date": "end",
    "strategy_id": "strategy",
    "zone_ids": "zones",
    "comuni_istat": "comuni",
    "responsible_office": "responsible",
    "action_code": "action",
    "action_id": "action",
    "indicator_code": "indicator",
    "published_on": "date",
    "document_url": "document",
    "link": "links",
}
_STATUS_WORDS = {
    ActionStatus.PLANNED: ("planned", "pianificata", "pianificato", "programmata", "prevista"),
    ActionStatus.IN_PROGRESS: ("in_progress", "started", "in_corso", "avviata", "avviato"),
    ActionStatus.DELAYED: ("delayed", "in_ritardo", "ritardo"),
    ActionStatus.COMPLETED: ("completed", "completata", "completato", "conclusa", "concluso"),
    ActionStatus.SUSPENDED: ("suspended", "sospesa", "sospeso"),
}
_STATUSES = {word: status for status, words in _STATUS_WORDS.items() for word in words}
_TRUE = {"true", "yes", "y", "1", "si", "sì", "x", "vero"}
_FALSE = {"false", "no", "n", "0", "falso", ""}


@dataclass(frozen=True)
class Reference:
    """What the records may point to: the plan's data and what is already stored."""

    strategies: frozenset[str]
    zones: Mapping[str, str]  # normalized id or name → zone id
    comuni: Mapping[str, str]  # normalized name or ISTAT code → ISTAT code
    comune_zones: Mapping[str, str]  # ISTAT code → zone id
    known_actions: frozenset[str] = frozenset()
    known_indicators: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class ActionData:
    code: str
    strategy_id: str
    title_it: str
    title_en: str
    description_it: str | None
    description_en: str | None
    zone_ids: tuple[str, ...]
    comuni_istat: tuple[str, ...]
    responsible: str | None
    status: ActionStatus
    progress_pct: int
    start_date: date | None
    end_date: date | None
    funding_source: str | None
    funding_amount_eur: float | None
    links: tuple[str, ...]
    sample: bool


@dataclass(frozen=True)
class IndicatorData:
    action_code: str
    code: str
    name_it: str
    name_en: str
    unit: str | None
    baseline: float | None
    baseline_year: int | None
    target: float | None
    target_year: int | None


@dataclass(frozen=True)
class MeasurementData:
    action_code: str
    indicator_code: str
    period: str
    value: float
    source: str | None


@dataclass(frozen=True)
class ReviewData:
    year: int
    published_on: date | None
    summary_it: str | None
    summary_en: str | None
    document_url: str | None
    sample: bool


@dataclass
class Dataset:
    actions: list[ActionData] = field(default_factory=list)
    indicators: list[IndicatorData] = field(default_factory=list)
    measurements: list[MeasurementData] = field(default_factory=list)
    reviews: list[ReviewData] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.actions or self.indicators or self.measurements or self.reviews)


@dataclass(frozen=True)
class RowError:
    where: Reason | str
    reason: Reason

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"

    def text(self) -> str:
        """In the current language."""
        return f"{localized(self.where)}: {self.reason.text()}"


class InvalidDataset(ValueError):
    """The records have problems; nothing of them may be imported."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the monitoring data")
        self.errors = errors


def validate(records: Iterable[RawRecord], reference: Reference) -> Dataset:
    """All records checked, or InvalidDataset listing every problem found."""
    checker = _Checker(reference)
    for record in records:
        checker.check(record)
    checker.check_links()
    if checker.errors:
        raise InvalidDataset(checker.errors[:MAX_ERRORS])
    return checker.dataset


class _Checker:
    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        self.dataset = Dataset()
        self.errors: list[RowError] = []
        self.actions: dict[str, str] = {}  # code → where
        self.indicators: dict[tuple[str, str], str] = {}
        self.periods: set[tuple[str, str, str]] = set()
        self.years: dict[int, str] = {}
        self.pending_links: list[tuple[RawRecord, str, tuple[str, ...]]] = []

    def check(self, record: RawRecord) -> None:
        if NOT_A_MAPPING in record.fields:
            self._error(record.where, N_("expected a mapping of fields, found a bare value"))
            return
        if record.table not in _FIELDS:
            self._error(
                record.where,
                N_("unknown record type; use action, indicator, measurement or review"),
            )
            return
        row = _Row(self._fields(record), record.where, self.errors)
        checkers = {
            ACTION: self._action,
            INDICATOR: self._indicator,
            MEASUREMENT: self._measurement,
            REVIEW: self._review,
        }
        checkers[record.table](row, record)

    def _fields(self, record: RawRecord) -> dict[str, Any]:
        allowed = _FIELDS[record.table]
        fields: dict[str, Any] = {}
        for key, value in record.fields.items():
            name = _ALIASES.get(key, key)
            if name in allowed:
                fields[name] = value
            elif not _belongs_to_another_table(name):
                self._error(
                    record.where,
                    N_("unknown column '{column}' for {table}"),
                    column=key,
                    table=record.table,
                )
        return fields

    def _error(self, where: Reason | str, message: str, **values: object) -> None:
        self.errors.append(RowError(where, Reason(message, **values)))

    def _action(self, row: _Row, record: RawRecord) -> None:
        code = row.code("code")
        strategy = row.text("strategy", required=True, max_length=16)
        if strategy is not None:
            strategy = strategy.upper()
            if strategy not in self.reference.strategies:
                known = ", ".join(sorted(self.reference.strategies))
                row.fail(
                    N_("strategy: unknown strategy '{strategy}' (known: {known})"),
                    strategy=strategy,
                    known=known,
                )
        title_it = row.text("title_it", required=True, max_length=300)
        comuni = self._comuni(row)
        zones = self._zones(row) or tuple(
            dict.fromkeys(self.reference.comune_zones[istat] for istat in comuni)
        )
        action = _maybe(
            ActionData,
            row,
            code=code,
            strategy_id=strategy,
            title_it=title_it,
            title_en=row.text("title_en", max_length=300) or title_it,
            description_it=row.text("description_it"),
            description_en=row.text("description_en"),
            zone_ids=zones,
            comuni_istat=comuni,
            responsible=row.text("responsible", max_length=300),
            status=row.status("status"),
            progress_pct=row.integer("progress", low=0, high=100, default=0),
            start_date=row.day("start"),
            end_date=row.day("end"),
            funding_source=row.text("funding_source", max_length=100),
            funding_amount_eur=row.number("funding_amount_eur", low=0),
            links=row.links("links"),
            sample=row.flag("sample"),
        )
        if action and action.start_date and action.end_date and action.end_date < action.start_date:
            row.fail(N_("end: the end date comes before the start date"))
            return
        first = code is not None and self._first(
            self.actions, code, row, N_("action {code} appears twice (first at {first})"), code=code
        )
        if first and action is not None:
            self.dataset.actions.append(action)

    def _comuni(self, row: _Row) -> tuple[str, ...]:
        found = []
        for name in row.items("comuni"):
            istat = self.reference.comuni.get(fold(name))
            if istat is None:
                row.fail(N_("comuni: unknown comune '{name}'"), name=name)
            else:
                found.append(istat)
        return tuple(dict.fromkeys(found))

    def _zones(self, row: _Row) -> tuple[str, ...]:
        found = []
        for name in row.items("zones"):
            zone = self.reference.zones.get(fold(name))
            if zone is None:
                known = ", ".join(sorted(set(self.reference.zones.values())))
                row.fail(
                    N_("zones: unknown zone '{name}' (known: {known})"), name=name, known=known
                )
            else:
                found.append(zone)
        return tuple(dict.fromkeys(found))

    def _first(self, seen: dict, key: Any, row: _Row, message: str, **values: object) -> bool:
        """True the first time; a repeat is an error pointing at the first occurrence
        (`message` has a {first} for it)."""
        if key in seen:
            row.fail(message, first=seen[key], **values)
            return False
        seen[key] = row.where
        return True

    def _indicator(self, row: _Row, record: RawRecord) -> None:
        action_code = row.code("action")
        code = row.code("code")
        name_it = row.text("name_it", required=True, max_length=300)
        indicator = _maybe(
            IndicatorData,
            row,
            action_code=action_code,
            code=code,
            name_it=name_it,
            name_en=row.text("name_en", max_length=300) or name_it,
            unit=row.text("unit", max_length=32),
            baseline=row.number("baseline"),
            baseline_year=row.integer("baseline_year", low=1900, high=2100),
            target=row.number("target"),
            target_year=row.integer("target_year", low=1900, high=2100),
        )
        if action_code is None or code is None:
            return
        self.pending_links.append((record, "action", (action_code,)))
        key = (action_code, code)
        first = self._first(
            self.indicators,
            key,
            row,
            N_("indicator {code} of action {action} appears twice (first at {first})"),
            code=code,
            action=action_code,
        )
        if first and indicator is not None:
            self.dataset.indicators.append(indicator)

    def _measurement(self, row: _Row, record: RawRecord) -> None:
        action_code = row.code("action")
        indicator_code = row.code("indicator")
        period = row.period("period")
        measurement = _maybe(
            MeasurementData,
            row,
            action_code=action_code,
            indicator_code=indicator_code,
            period=period,
            value=row.number("value", required=True),
            source=row.text("source", max_length=300),
        )
        if action_code is None or indicator_code is None:
            return
        self.pending_links.append((record, "indicator", (action_code, indicator_code)))
        if period is not None:
            key = (action_code, indicator_code, period)
            if key in self.periods:
                row.fail(
                    N_("period {period} of indicator {indicator} appears twice"),
                    period=period,
                    indicator=indicator_code,
                )
                return
            self.periods.add(key)
        if measurement is not None:
            self.dataset.measurements.append(measurement)

    def _review(self, row: _Row, record: RawRecord) -> None:
        year = row.integer("year", low=2000, high=2100, required=True)
        review = _maybe(
            ReviewData,
            row,
            year=year,
            published_on=row.day("date"),
            summary_it=row.text("summary_it"),
            summary_en=row.text("summary_en"),
            document_url=row.link("document"),
            sample=row.flag("sample"),
        )
        first = year is not None and self._first(
            self.years, year, row, N_("review {year} appears twice (first at {first})"), year=year
        )
        if first and review is not None:
            self.dataset.reviews.append(review)

    def check_links(self) -> None:
        """Indicators need their action, measurements their indicator: here or stored."""
        actions = set(self.actions) | self.reference.known_actions
        indicators = set(self.indicators) | self.reference.known_indicators
        for record, kind, key in self.pending_links:
            if kind == "action" and key[0] not in actions:
                self._error(record.where, N_("action: unknown action '{code}'"), code=key[0])
            elif kind == "indicator" and key not in indicators:
                self._error(
                    record.where,
                    N_("indicator: unknown indicator '{indicator}' of action '{action}'"),
                    indicator=key[1],
                    action=key[0],
                )


def _belongs_to_another_table(name: str) -> bool:
    """In a CSV that mixes tables, a row carries the other tables' (empty) columns."""
    return any(name in names for names in _FIELDS.values())


def _maybe(kind, row: _Row, **values):
    """The record, unless one of its fields failed (then None: the error is recorded)."""
    return None if row.failed else kind(**values)


class _Row:
    """One record's fields, parsed one by one; each problem becomes a RowError."""

    def __init__(
        self, fields: Mapping[str, Any], where: Reason | str, errors: list[RowError]
    ) -> None:
        self.fields = fields
        self.where = where
        self.errors = errors
        self.failed = False

    def fail(self, message: str, **values: object) -> None:
        """Record a problem: `message` is an English catalog id (N_) with {placeholders}."""
        self.failed = True
        self.errors.append(RowError(self.where, Reason(message, **values)))

    def _raw(self, name: str, required: bool) -> Any:
        value = self.fields.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if required:
                self.fail(N_("{name}: missing"), name=name)
            return None
        return value

    def text(self, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        value = self._raw(name, required)
        if value is None:
            return None
        text = _plain(value)
        if len(text) > max_length:
            self.fail(N_("{name}: longer than {max} characters"), name=name, max=max_length)
            return None
        return text

    def code(self, name: str) -> str | None:
        value = self.text(name, required=True, max_length=64)
        if value is not None and not CODE.match(value):
            self.fail(
                N_("{name}: '{value}' is not a code (letters, digits, . _ -; up to 32)"),
                name=name,
                value=value,
            )
            return None
        return value

    def status(self, name: str) -> ActionStatus | None:
        value = self.text(name, required=True, max_length=32)
        if value is None:
            return None
        status = _STATUSES.get(fold(value).replace(" ", "_").replace("-", "_"))
        if status is None:
            allowed = ", ".join(s.value for s in ActionStatus)
            self.fail(
                N_("{name}: unknown status '{value}' (use {allowed})"),
                name=name,
                value=value,
                allowed=allowed,
            )
        return status

    def number(
        self, name: str, *, required: bool = False, low: float | None = None
    ) -> float | None:
        value = self._raw(name, required)
        if value is None:
            return None
        try:
            number = _number(value)
        except _Unreadable as unreadable:
            self.fail(unreadable.message, name=name, value=value)
            return None
        if low is not None and number < low:
            self.fail(N_("{name}: {value} is below {low}"), name=name, value=value, low=f"{low:g}")
            return None
        return number

    def integer(
        self, name: str, *, low: int, high: int, required: bool = False, default=None
    ) -> int | None:
        value = self._raw(name, required)
        if value is None:
            return default
        try:
            number = _number(str(value).rstrip("%") if isinstance(value, str) else value)
        except _Unreadable as unreadable:
            if unreadable.message != _NOT_A_NUMBER:
                self.fail(unreadable.message, name=name, value=value)
                return default
            number = None
        if number is None or number != int(number) or not low <= number <= high:
            self.fail(
                N_("{name}: '{value}' is not a whole number from {low} to {high}"),
                name=name,
                value=value,
                low=low,
                high=high,
            )
            return default
        return int(number)

    def day(self, name: str) -> date | None:
        value = self._raw(name, False)
        if value is None:
            return None
        parsed = _day(value)
        if parsed is None:
            self.fail(
                N_("{name}: '{value}' is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
                name=name,
                value=value,
            )
        return parsed

    def period(self, name: str) -> str | None:
        value = self._raw(name, True)
        if value is None:
            return None
        text = _plain(value)
        if not PERIOD.match(text):
            self.fail(
                N_("{name}: '{value}' is not a period (2024, 2024-06, 2024-Q2 or 2024-S1)"),
                name=name,
                value=value,
            )
            return None
        return text

    def flag(self, name: str) -> bool:
        value = self._raw(name, False)
        if value is None or isinstance(value, bool):
            return bool(value)
        word = fold(_plain(value))
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        self.fail(N_("{name}: '{value}' is not yes or no"), name=name, value=value)
        return False

    def items(self, name: str) -> list[str]:
        value = self._raw(name, False)
        if value is None:
            return []
        if isinstance(value, list):
            return [_plain(item) for item in value if not _empty(item)]
        return [part.strip() for part in re.split(r"[;,\n]", _plain(value)) if part.strip()]

    def links(self, name: str) -> tuple[str, ...]:
        value = self._raw(name, False)
        if value is None:
            return ()
        parts = value if isinstance(value, list) else re.split(r"[\s;]+", _plain(value))
        links = [_plain(part) for part in parts if not _empty(part)]
        for link in links:
            if not _is_web_link(link):
                self.fail(N_("{name}: '{value}' is not an http(s) link"), name=name, value=link)
        return tuple(links)

    def link(self, name: str) -> str | None:
        value = self.text(name, max_length=2048)
        if value is not None and not _is_web_link(value):
            self.fail(N_("{name}: '{value}' is not an http(s) link"), name=name, value=value)
            return None
        return value


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _empty(value: Any) -> bool:
    return value is None or not str(value).strip()


def _is_web_link(value: str) -> bool:
    return bool(re.match(r"^https?://[^\s/]+", value)) and len(value) <= 2048


_NOT_A_NUMBER = N_("{name}: '{value}' is not a number")
_AMBIGUOUS = N_(
    "{name}: '{value}' is ambiguous (thousands or decimals?): write whole numbers without a "
    "thousands separator, such as 1250, and decimals after a comma or a point, such as 1,25"
)
_BAD_SEPARATORS = N_(
    "{name}: '{value}' has separators that cannot be read: write whole numbers without a "
    "thousands separator, such as 1250, and decimals after a comma or a point, such as 1,25"
)
_SPACES_AND_EURO = re.compile(r"[\s€]")
_DIGITS_AND_SEPARATORS = re.compile(r"[\d.,]*\d[\d.,]*")
_EXPONENT = re.compile(r"\d+(\.\d+)?[eE][+-]?\d+")


class _Unreadable(ValueError):
    """Why a text is not a number: one of the catalog ids above."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _number(value: Any) -> float:
    """A number as typed in a spreadsheet or a file, or _Unreadable saying why not."""
    if isinstance(value, bool):
        raise _Unreadable(_NOT_A_NUMBER)
    if isinstance(value, int | float):
        return _finite(float(value))
    text = _SPACES_AND_EURO.sub("", str(value))
    sign, digits = (text[0], text[1:]) if text[:1] in ("+", "-") else ("", text)
    if _EXPONENT.fullmatch(digits):  # 1.25E+06, as Excel writes large numbers
        return _finite(float(sign + digits))
    if not _DIGITS_AND_SEPARATORS.fullmatch(digits):
        raise _Unreadable(_NOT_A_NUMBER)
    return _finite(float(sign + _plain_digits(digits)))


def _plain_digits(text: str) -> str:
    """ "1.250,50", "1,250.50", "1.250.000", "1250,5" → "1250.50", "1250.50", "1250000", …"""
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        decimal = "." if text.rfind(".") > text.rfind(",") else ","
        group = "," if decimal == "." else "."
        whole, _, fraction = text.rpartition(decimal)
        if decimal in whole or not fraction or not _grouped(whole, group):
            raise _Unreadable(_BAD_SEPARATORS)
        return whole.replace(group, "") + "." + fraction
    if not (dots or commas):
        return text
    separator = "." if dots else ","
    if dots + commas > 1:  # only thousands: 1.250.000
        if not _grouped(text, separator):
            raise _Unreadable(_BAD_SEPARATORS)
        return text.replace(separator, "")
    whole, _, fraction = text.partition(separator)
    if not fraction:
        raise _Unreadable(_BAD_SEPARATORS)
    if len(fraction) == 3 and len(whole) <= 3 and whole.strip("0"):  # 1.250: 1250 or 1.25?
        raise _Unreadable(_AMBIGUOUS)
    return (whole or "0") + "." + fraction


def _grouped(text: str, separator: str) -> bool:
    """Thousands groups: 1 to 3 digits, then groups of exactly 3."""
    return re.fullmatch(r"\d{1,3}(" + re.escape(separator) + r"\d{3})+", text) is not None


def _finite(number: float) -> float:
    if number != number or abs(number) == float("inf"):
        raise _Unreadable(_NOT_A_NUMBER)
    return number


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None
