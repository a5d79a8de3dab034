"""The staff's side of the participation record: export, summary, moderation, answers,
verification and publication.

Exports hold pseudonyms only (never Telegram ids). Hidden entries are kept and marked.
Published entries are the only texts of the record on the public pages: their text and the
office's answer, never who wrote them.
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import Exists, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Comune,
    ConsentState,
    EntryKind,
    Participant,
    RecordEntry,
    RecordEntryTag,
    Subscriber,
    TargetKind,
)
from bot.i18n import TIMEZONE
from bot.services import staff

COLUMNS = (
    "reference",
    "created_at",
    "kind",
    "value",
    "text",
    "text_truncated",
    "language",
    "subject_kind",
    "subject_id",
    "subject_label",
    "notification_id",
    "notification_kind",
    "tags",
    "participant",
    "category",
    "organisation",
    "organisation_verified",
    "comune",
    "zone",
    "moderation",
    "hidden_reason",
    "hidden_by",
    "staff_reply",
    "staff_reply_at",
    "published",
    "published_at",
)
# The CSV Italian Excel opens with a double click: `;`-separated, UTF-8 with a BOM.
CSV_DELIMITER = ";"
# Spreadsheets run cells starting with = + - @ tab or CR as formulas (CSV injection). A
# reader may split a cell again at `,` `;` or a line break (another separator setting), so
# each part that could become a cell, after spaces and quotes, is defused with a `'`.
_FORMULA_PART = re.compile(r"(^|[,;\r\n])([ \"]*)(?=[=+\-@\t\r])")


class Format(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@dataclass(frozen=True)
class RecordFilter:
    """Dates are local (Europe/Rome) days, both included; ids match the entry's tags."""

    date_from: date | None = None
    date_to: date | None = None
    strategy: str | None = None
    action: str | None = None
    zone: str | None = None


class FilterError(ValueError):
    """A filter the staff typed is not understood; the message says which."""


# --- selecting entries ------------------------------------------------------------


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=TIMEZONE)


def _tagged(kind: str, ids) -> Exists:
    return exists().where(
        RecordEntryTag.entry_id == RecordEntry.id,
        RecordEntryTag.target_kind == kind,
        RecordEntryTag.target_id.in_(ids),
    )


def _conditions(record_filter: RecordFilter) -> list:
    conditions = []
    if record_filter.date_from:
        conditions.append(RecordEntry.created_at >= _local_midnight(record_filter.date_from))
    if record_filter.date_to:
        end = _local_midnight(record_filter.date_to + timedelta(days=1))
        conditions.append(RecordEntry.created_at < end)
    if record_filter.strategy:
        conditions.append(_tagged(TargetKind.STRATEGY.value, [record_filter.strategy]))
    if record_filter.action:
        conditions.append(_tagged("action", [record_filter.action]))
    if record_filter.zone:
        conditions.append(_about_or_from_zone(record_filter.zone))
    return conditions


def _about_or_from_zone(zone_id: str):
    """About the zone or one of its comuni, or from someone who declared a comune there."""
    comuni = select(Comune.istat).where(Comune.zone_id == zone_id)
    return or_(
        _tagged(TargetKind.ZONE.value, [zone_id]),
        _tagged(TargetKind.COMUNE.value, comuni),
        RecordEntry.participant_zone == zone_id,
    )


@dataclass(frozen=True)
class ExportRow:
    entry: RecordEntry
    pseudonym: str | None


async def select_entries(session: AsyncSession, record_filter: RecordFilter) -> list[ExportRow]:
    query = (
        select(RecordEntry, Participant.pseudonym)
        .outerjoin(Participant, Participant.id == RecordEntry.participant_id)
        .where(*_conditions(record_filter))
        .order_by(RecordEntry.created_at, RecordEntry.id)
    )
    return [ExportRow(entry, pseudonym) for entry, pseudonym in await session.execute(query)]


# --- export -------------------------------------------------------------------------


def _local(moment: datetime | None) -> datetime | None:
    return moment.astimezone(TIMEZONE) if moment else None


def row_values(row: ExportRow) -> list:
    entry = row.entry
    tags = ";".join(f"{t.target_kind}:{t.target_id}" for t in entry.tags)
    return [
        entry.reference,
        _local(entry.created_at),
        entry.kind,
        entry.value,
        entry.text,
        entry.text_truncated,
        entry.language,
        entry.subject_kind,
        entry.subject_id,
        entry.subject_label,
        entry.notification_id,
        entry.notification_kind,
        tags,
        row.pseudonym,
        entry.participant_category,
        entry.participant_organisation,
        entry.organisation_verified,
        entry.participant_comune,
        entry.participant_zone,
        "hidden" if entry.hidden else "visible",
        entry.hidden_reason,
        entry.hidden_by,
        entry.staff_reply,
        _local(entry.staff_reply_at),
        entry.published_at is not None,
        _local(entry.published_at),
    ]


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, str):
        return _FORMULA_PART.sub(r"\1\2'", value)
    return str(value)


def to_csv(rows: Sequence[ExportRow]) -> bytes:
    """`;`-separated UTF-8 with BOM and CRLF: what Excel set to Italian reads as columns,
    with accents and emoji right; safe to open with any separator setting."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row_values(row)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_cell(sheet, value) -> Cell:
    if isinstance(value, datetime):
        # Excel has no time zones: local (Europe/Rome) time, as the column header says.
        return WriteOnlyCell(sheet, value=value.replace(tzinfo=None))
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"  # never a formula, whatever the text starts with
        return cell
    return WriteOnlyCell(sheet, value=value)


def to_xlsx(rows: Sequence[ExportRow]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("record")
    headers = [f"{c} (Europe/Rome)" if c.endswith("_at") else c for c in COLUMNS]
    sheet.append(headers)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row_values(row)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export(rows: Sequence[ExportRow], file_format: Format) -> bytes:
    return to_xlsx(rows) if file_format is Format.XLSX else to_csv(rows)


def export_file_name(file_format: Format, today: date) -> str:
    return f"participation-record-{today.isoformat()}.{file_format.value}"


# --- summary ------------------------------------------------------------------------


@dataclass
class SubjectCounts:
    subject_kind: str | None
    subject_id: str | None
    label: str | None
    counts: dict[str, int] = field(default_factory=dict)
    hidden: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _count_key(entry_kind: str, value: str | None) -> str:
    return value if entry_kind == EntryKind.REACTION and value else entry_kind


async def summary(session: AsyncSession, record_filter: RecordFilter) -> list[SubjectCounts]:
    """Visible entries per subject (useful, not useful, comments, feedback, free); hidden apart."""
    query = (
        select(
            RecordEntry.subject_kind,
            RecordEntry.subject_id,
            func.max(RecordEntry.subject_label),
            RecordEntry.kind,
            RecordEntry.value,
            RecordEntry.hidden,
            func.count(),
        )
        .where(*_conditions(record_filter))
        .group_by(
            RecordEntry.subject_kind,
            RecordEntry.subject_id,
            RecordEntry.kind,
            RecordEntry.value,
            RecordEntry.hidden,
        )
    )
    by_subject: dict[tuple, SubjectCounts] = {}
    for kind, subject_id, label, entry_kind, value, hidden, count in await session.execute(query):
        item = by_subject.setdefault((kind, subject_id), SubjectCounts(kind, subject_id, label))
        if hidden:
            item.hidden += count
            continue
        key = _count_key(entry_kind, value)
        item.counts[key] = item.counts.get(key, 0) + count
    return sorted(by_subject.values(), key=lambda item: (-item.total, item.label or ""))


def summary_lines(items: Sequence[SubjectCounts]) -> list[str]:
    """Plain text for the command line (and a template for the staff's Telegram view)."""
    lines = []
    for item in items:
        subject = f"{item.subject_kind}:{item.subject_id}" if item.subject_kind else "(no subject)"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(item.counts.items()))
        hidden = f", hidden {item.hidden}" if item.hidden else ""
        lines.append(f"{subject} {item.label or ''} — total {item.total}: {counts}{hidden}")
    return lines


# --- moderation, answers, verification ----------------------------------------------


async def find_entry(session: AsyncSession, reference: str) -> RecordEntry | None:
    return await session.scalar(
        select(RecordEntry).where(RecordEntry.reference == reference.strip().upper())
    )


def hide(entry: RecordEntry, reason: str, staff_id: int | None, now: datetime) -> None:
    entry.hidden = True
    entry.hidden_reason = reason.strip()[:300] or None
    entry.hidden_by = staff_id
    entry.hidden_at = now
    # A hidden entry leaves the public pages for good: /unhide does not publish it again.
    _clear_publication(entry)


def unhide(entry: RecordEntry) -> None:
    entry.hidden = False
    entry.hidden_reason = entry.hidden_by = entry.hidden_at = None


async def participant_subscriber(session: AsyncSession, entry: RecordEntry) -> Subscriber | None:
    """Who to answer: None for anonymous or erased entries."""
    if entry.participant_id is None:
        return None
    return await session.scalar(
        select(Subscriber)
        .join(Participant, Participant.subscriber_id == Subscriber.id)
        .where(Participant.id == entry.participant_id)
    )


def note_answer(entry: RecordEntry, text: str, staff_id: int, now: datetime) -> None:
    entry.staff_reply = text
    entry.staff_reply_by = staff_id
    entry.staff_reply_at = now


async def set_verified(
    session: AsyncSession, pseudonym: str, verified: bool, staff_id: int | None, now: datetime
) -> Participant | None:
    """Mark a participant's declared organisation as verified (or not) by the plan's office."""
    participant = await session.scalar(
        select(Participant).where(Participant.pseudonym == pseudonym.strip())
    )
    if participant is None:
        return None
    participant.organisation_verified = verified
    participant.verified_by = staff_id if verified else None
    participant.verified_at = now if verified else None
    return participant


# --- publication on the public pages ---------------------------------------------------


class PublishOutcome(enum.StrEnum):
    PUBLISHED = "published"
    ANSWER_UPDATED = "answer_updated"  # already published: the answer shown is the new one
    ALREADY_PUBLISHED = "already_published"
    UNKNOWN = "unknown"
    NO_TEXT = "no_text"  # a reaction: nothing to show
    HIDDEN = "hidden"
    NO_CONSENT = "no_consent"  # anonymous, erased, or the author withdrew consent


class UnpublishOutcome(enum.StrEnum):
    UNPUBLISHED = "unpublished"
    NOT_PUBLISHED = "not_published"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PublishResult:
    outcome: PublishOutcome
    reference: str  # the entry's own when found, else as typed (stripped)


@dataclass(frozen=True)
class UnpublishResult:
    outcome: UnpublishOutcome
    reference: str


@dataclass(frozen=True)
class PublishedEntry:
    """What the public pages show of a published entry: never a pseudonym or participant."""

    reference: str
    at: datetime
    text: str
    answer: str | None
    answered_at: datetime | None
    action_code: str | None
    strategy_id: str | None
    zone_id: str | None


def _clear_publication(entry: RecordEntry) -> None:
    entry.published_at = entry.published_by = None


async def _author_consents(session: AsyncSession, entry: RecordEntry) -> bool:
    if entry.participant_id is None:
        return False
    consent = await session.scalar(
        select(Participant.consent).where(Participant.id == entry.participant_id)
    )
    return consent == ConsentState.GIVEN


async def _refusal(session: AsyncSession, entry: RecordEntry) -> PublishOutcome | None:
    if not entry.text:
        return PublishOutcome.NO_TEXT
    if entry.hidden:
        return PublishOutcome.HIDDEN
    if not await _author_consents(session, entry):
        return PublishOutcome.NO_CONSENT
    return None


async def publish(
    session: AsyncSession,
    reference: str,
    *,
    staff_id: int,
    now: datetime,
    answer: str | None = None,
) -> PublishResult:
    """Show the entry's text on the public pages, with the office's answer when given (kept
    as the entry's staff reply, the same field /answer fills). Audited."""
    entry = await find_entry(session, reference)
    if entry is None:
        return PublishResult(PublishOutcome.UNKNOWN, reference.strip())
    refusal = await _refusal(session, entry)
    if refusal is not None:
        return PublishResult(refusal, entry.reference)
    answer = (answer or "").strip() or None
    if entry.published_at is not None and answer is None:
        return PublishResult(PublishOutcome.ALREADY_PUBLISHED, entry.reference)
    outcome = PublishOutcome.PUBLISHED
    if entry.published_at is None:
        entry.published_at, entry.published_by = now, staff_id
    else:
        outcome = PublishOutcome.ANSWER_UPDATED
    if answer is not None:
        note_answer(entry, answer, staff_id, now)
    staff.audit(
        session,
        staff_id,
        "record_publish",
        now,
        reference=entry.reference,
        with_answer=answer is not None,
    )
    return PublishResult(outcome, entry.reference)


async def unpublish(
    session: AsyncSession, reference: str, *, staff_id: int, now: datetime
) -> UnpublishResult:
    """Withdraw the entry from the public pages (it stays in the record). Audited."""
    entry = await find_entry(session, reference)
    if entry is None:
        return UnpublishResult(UnpublishOutcome.UNKNOWN, reference.strip())
    if entry.published_at is None:
        return UnpublishResult(UnpublishOutcome.NOT_PUBLISHED, entry.reference)
    _clear_publication(entry)
    staff.audit(session, staff_id, "record_unpublish", now, reference=entry.reference)
    return UnpublishResult(UnpublishOutcome.UNPUBLISHED, entry.reference)


async def published_entries(
    session: AsyncSession, *, action_code: str | None = None, limit: int = 50
) -> list[PublishedEntry]:
    """The latest published entries, newest publication first, about one action if given.

    Checked again here, whatever the publication columns say: visible, with a text, and
    from someone who still consents (an erased author has no participant any more).
    """
    query = (
        select(RecordEntry)
        .join(Participant, Participant.id == RecordEntry.participant_id)
        .where(
            RecordEntry.published_at.is_not(None),
            RecordEntry.hidden.is_(False),
            RecordEntry.text.is_not(None),
            Participant.consent == ConsentState.GIVEN.value,
        )
        .order_by(RecordEntry.published_at.desc(), RecordEntry.id.desc())
        .limit(limit)
    )
    if action_code is not None:
        query = query.where(_tagged(TargetKind.ACTION.value, [action_code]))
    return [_published(entry) for entry in await session.scalars(query)]


def _published(entry: RecordEntry) -> PublishedEntry:
    def first(kind: TargetKind) -> str | None:
        ids = sorted(tag.target_id for tag in entry.tags if tag.target_kind == kind)
        return ids[0] if ids else None

    return PublishedEntry(
        reference=entry.reference,
        at=entry.created_at,
        text=entry.text or "",
        answer=entry.staff_reply,
        answered_at=entry.staff_reply_at,
        action_code=first(TargetKind.ACTION),
        strategy_id=first(TargetKind.STRATEGY),
        zone_id=first(TargetKind.ZONE),
    )


# --- filters typed by the staff in Telegram: /export csv from=2026-01-01 zone=tigullio ------

_DATE_KEYS = ("from", "to")
_ID_KEYS = ("strategy", "action", "zone")


def parse_staff_arguments(args: Sequence[str]) -> tuple[Format, RecordFilter]:
    file_format = Format.XLSX
    dates: dict[str, date] = {}
    ids: dict[str, str] = {}
    for arg in args:
        if arg.lower() in (Format.CSV, Format.XLSX):
            file_format = Format(arg.lower())
            continue
        key, _, value = arg.partition("=")
        if not value or key not in (*_DATE_KEYS, *_ID_KEYS):
            raise FilterError(arg)
        if key in _DATE_KEYS:
            dates[key] = _parse_date(value)
        else:
            ids[key] = value
    return file_format, RecordFilter(
        date_from=dates.get("from"),
        date_to=dates.get("to"),
        strategy=ids.get("strategy"),
        action=ids.get("action"),
        zone=ids.get("zone"),
    )


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(value) from None
