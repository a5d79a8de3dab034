"""The staff's tools on the participation record: export, summary, moderation, answers, CLI."""

from __future__ import annotations

import asyncio
import codecs
import csv
import dataclasses
import io
import json
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from bot.cli import _parser
from bot.cli.record import execute
from bot.db.models import EntryKind, RecordEntry, utcnow
from bot.i18n import TIMEZONE
from bot.services import participation, record
from bot.services.record import ExportRow, Format, RecordFilter
from tests.record_helpers import (
    TIGULLIO,
    consenting,
    deliver,
    entries,
    follower,
    news,
    participant,
)

ADMIN = 4242


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


@pytest.fixture
async def two_comments(settings, db, sandbox, running_bot):
    """Anna (it) comments on a Tigullio notification; Ben (en) gives feedback on S1."""
    anna = await follower(db, sandbox, 1001, TIGULLIO)
    await deliver(settings, db, sandbox, news("n1", TIGULLIO))
    notification = anna.last_bot_message
    await consenting(anna)
    await anna.reply('=HYPERLINK("http://evil") <b>bus</b> 🚌', to=notification.message_id)
    await anna.press("👍 Utile", message_id=notification.message_id)
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await consenting(ben)
    await ben.send("/feedback")
    await ben.press("A strategy")
    await ben.press(next(label for label in ben.last_bot_message.labels if label.startswith("S1")))
    await ben.send("Good plan")
    return anna, ben


def admin(sandbox):
    return sandbox.user(ADMIN, first_name="Ufficio", language_code="it")


async def test_staff_export_the_record_as_xlsx_and_csv_from_telegram(sandbox, two_comments):
    office = admin(sandbox)
    await office.send("/export")
    document = office.last_bot_message
    assert document.kind == "document" and document.file_name.endswith(".xlsx")
    assert document.caption == "Registro della partecipazione: 3 contributi."
    sheet = load_workbook(io.BytesIO(document.file_bytes)).active
    rows = list(sheet.values)
    assert rows[0][:3] == ("reference", "created_at (Europe/Rome)", "kind")
    texts = [row[4] for row in rows[1:]]
    # Kept as text, never run as a formula.
    assert '=HYPERLINK("http://evil") <b>bus</b> 🚌' in texts
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)

    await office.send("/export csv strategy=S1")
    content = office.last_bot_message.file_bytes.decode("utf-8-sig")
    (row,) = csv.DictReader(io.StringIO(content), delimiter=";")
    assert (row["text"], row["subject_id"], row["language"]) == ("Good plan", "S1", "en")


async def test_export_refuses_unknown_filters_and_non_staff(sandbox, running_bot):
    office = admin(sandbox)
    await office.send("/export when=yesterday")
    assert "Non capisco «when=yesterday»" in office.last_bot_message.text
    await office.send("/export from=31-12-2026")
    assert "Non capisco «31-12-2026»" in office.last_bot_message.text
    citizen = sandbox.user(1001, first_name="Anna", language_code="it")
    for command in ("/export", "/summary", "/hide P-2026-00001", "/answer P-2026-00001 ok"):
        await citizen.send(command)
        assert "riservato al personale" in citizen.last_bot_message.text


async def test_summary_counts_entries_per_subject(sandbox, two_comments):
    office = admin(sandbox)
    await office.send("/summary")
    text = office.last_bot_message.text
    assert "Registro della partecipazione: contributi per argomento" in text
    assert "Nuovo bando per il Tigullio: 💬 1 · 👍 1" in text
    assert "📝 1" in text


async def test_staff_hide_an_abusive_entry_which_stays_marked(sandbox, db, two_comments):
    comment = next(e for e in await entries(db) if e.kind == EntryKind.COMMENT)
    office = admin(sandbox)
    await office.send(f"/hide {comment.reference} insulti a terzi")
    assert f"Il contributo {comment.reference} ora è nascosto" in office.last_bot_message.text
    hidden = next(e for e in await entries(db) if e.id == comment.id)
    assert (hidden.hidden, hidden.hidden_reason, hidden.hidden_by) == (
        True,
        "insulti a terzi",
        ADMIN,
    )
    await office.send("/summary")
    assert "nascosti 1" in office.last_bot_message.text
    await office.send(f"/unhide {comment.reference.lower()}")
    assert "è di nuovo visibile" in office.last_bot_message.text
    await office.send("/hide P-1999-00001")
    assert "Non esiste il contributo P-1999-00001." in office.last_bot_message.text


async def test_staff_answer_reaches_the_participant_in_their_language(sandbox, db, two_comments):
    anna, ben = two_comments
    feedback = next(e for e in await entries(db) if e.kind == EntryKind.FEEDBACK)
    office = admin(sandbox)
    await office.send(f"/answer {feedback.reference} Grazie: <i>lo</i> terremo presente.\nA presto")
    assert (
        f"Risposta inviata a chi ha scritto il contributo {feedback.reference}"
        in office.last_bot_message.text
    )
    message = ben.last_bot_message.text
    assert f"The plan's office answers your contribution {feedback.reference}" in message
    assert "You said: Good plan" in message
    assert "Grazie: <i>lo</i> terremo presente.\nA presto" in message  # escaped, kept as typed
    stored = next(e for e in await entries(db) if e.id == feedback.id)
    assert stored.staff_reply.startswith("Grazie:") and stored.staff_reply_by == ADMIN

    reaction = next(e for e in await entries(db) if e.kind == EntryKind.REACTION)
    await office.send(f"/answer {reaction.reference} Ne terremo conto")
    assert "Hai scritto: 👍 Nuovo bando per il Tigullio" in anna.last_bot_message.text


async def test_an_anonymous_entry_cannot_be_answered(sandbox, db, running_bot):
    async with db.transaction() as session:
        entry = await participation.add_entry(
            session,
            kind=EntryKind.FREE,
            subject=None,
            participant=None,
            language="it",
            now=utcnow(),
            text=participation.cap_text("anonimo"),
        )
    office = admin(sandbox)
    await office.send(f"/answer {entry.reference} grazie")
    assert "Non è possibile raggiungere chi ha scritto" in office.last_bot_message.text


async def test_staff_answer_to_someone_who_left_is_reported(sandbox, db, two_comments):
    _anna, ben = two_comments
    feedback = next(e for e in await entries(db) if e.kind == EntryKind.FEEDBACK)
    ben.block()
    office = admin(sandbox)
    await office.send(f"/answer {feedback.reference} thanks")
    assert "Non è stato possibile consegnare la risposta" in office.last_bot_message.text
    sandbox.assert_no_rejections(ignore=["sendMessage"])


async def test_staff_verify_a_declared_organisation(sandbox, db, running_bot):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await consenting(anna)
    await anna.send("/profile")
    await anna.press("Organizzazione")
    await anna.send("Pro Loco di Zoagli")
    pseudonym = (await participant(db, 1001)).pseudonym
    office = admin(sandbox)
    await office.send(f"/verify {pseudonym}")
    assert "ora è verificata: Pro Loco di Zoagli" in office.last_bot_message.text
    await anna.send("/profile")
    assert "verificata dall'ufficio del Piano" in anna.last_bot_message.text
    await office.send(f"/verify {pseudonym} off")
    assert "non è più verificata" in office.last_bot_message.text
    await office.send("/verify u-nobody")
    assert "Nessuna persona ha lo pseudonimo u-nobody." in office.last_bot_message.text


async def test_mydata_says_what_staff_did_but_never_who(sandbox, db, two_comments):
    anna, _ben = two_comments
    await anna.send("/profile")
    await anna.press("Organizzazione")
    await anna.send("Pro Loco di Zoagli")
    comment = next(e for e in await entries(db) if e.kind == EntryKind.COMMENT)
    office = admin(sandbox)
    await office.send(f"/verify {(await participant(db, 1001)).pseudonym}")
    await office.send(f"/answer {comment.reference} Grazie")
    await office.send(f"/hide {comment.reference} fuori tema")

    await anna.send("/mydata")
    data = json.loads(anna.last_bot_message.file_bytes)

    # Not a value anywhere (a bare substring check also matched microseconds of a timestamp).
    admin_id = re.compile(rf"(?<!\d){ADMIN}(?!\d)")
    assert not [value for value in _values(data) if admin_id.search(str(value))]
    profile = data["participant"]
    assert profile["organisation_verified"] is True and profile["verified_at"]
    assert "verified_by" not in profile
    (answered,) = [e for e in data["record_entries"] if e["reference"] == comment.reference]
    assert answered["staff_reply"] == "Grazie" and answered["staff_reply_at"]
    assert answered["hidden"] is True and answered["hidden_at"]
    assert "staff_reply_by" not in answered and "hidden_by" not in answered


# --- the command line --------------------------------------------------------------


class Output(io.BytesIO):
    def isatty(self) -> bool:
        return False


async def run_cli(db, *argv: str) -> tuple[int, bytes]:
    out = Output()
    code = await execute(_parser().parse_args(["record", *argv]), db, out)
    return code, out.getvalue()


async def test_cli_exports_csv_with_filters_and_xlsx_to_a_file(db, two_comments, tmp_path):
    code, content = await run_cli(db, "export", "--format", "csv", "--zone", "tigullio")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    assert code == 0 and {row["kind"] for row in rows} == {"comment", "reaction"}
    # A text that starts like a formula is defused in CSV.
    assert rows[0]["text"].startswith("'=HYPERLINK")

    # Days are Rome days: between 23:00 and 24:00 UTC, Rome is already on the next one.
    today = datetime.now(TIMEZONE).date().isoformat()
    code, _ = await run_cli(
        db,
        "export",
        "--from",
        today,
        "--to",
        today,
        "--strategy",
        "S1",
        "--format",
        "xlsx",
        "--output",
        str(tmp_path / "r.xlsx"),
    )
    sheet = load_workbook(tmp_path / "r.xlsx").active
    assert code == 0 and [row[4] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        "Good plan"
    ]
    code, content = await run_cli(db, "export", "--to", "2000-01-01")
    assert len(content.decode("utf-8-sig").splitlines()) == 1  # the header only


async def test_cli_summary_hide_and_verify(db, two_comments, capsys):
    code, content = await run_cli(db, "summary")
    assert code == 0 and "strategy:S1" in content.decode() and "feedback 1" in content.decode()
    reference = (await entries(db))[0].reference
    assert (await run_cli(db, "hide", reference, "--reason", "spam"))[0] == 0
    assert (await entries(db))[0].hidden_reason == "spam"
    assert (await run_cli(db, "unhide", reference))[0] == 0
    assert (await run_cli(db, "hide", "P-1999-00009"))[0] == 2
    pseudonym = (await participant(db, 1001)).pseudonym
    assert (await run_cli(db, "verify", pseudonym))[0] == 0
    assert (await participant(db, 1001)).organisation_verified is True
    assert (await run_cli(db, "verify", pseudonym, "--revoke"))[0] == 0
    assert (await run_cli(db, "verify", "u-nobody"))[0] == 2
    assert "no participant u-nobody" in capsys.readouterr().err


def test_cli_rejects_a_bad_date():
    with pytest.raises(SystemExit):
        _parser().parse_args(["record", "export", "--from", "yesterday"])


# --- rules without a server ---------------------------------------------------------


def test_text_is_capped_and_cleaned():
    capped = participation.cap_text("  a\x00b\u200d😀 " + "x" * 5000)
    assert capped.truncated and len(capped.text) == participation.MAX_TEXT_CHARS
    assert capped.text.startswith("ab\u200d😀 ")
    assert participation.cap_text("ok").truncated is False


def test_references_are_zero_padded():
    assert participation.format_reference(2026, 42) == "P-2026-00042"
    assert participation.format_reference(2026, 123456) == "P-2026-123456"


def test_staff_arguments_are_parsed_strictly():
    file_format, record_filter = record.parse_staff_arguments(
        ["CSV", "from=2026-01-01", "zone=tigullio"]
    )
    assert file_format is Format.CSV
    assert record_filter == RecordFilter(date_from=datetime(2026, 1, 1).date(), zone="tigullio")
    for wrong in (["zone="], ["colour=red"], ["to=2026-13-01"]):
        with pytest.raises(record.FilterError):
            record.parse_staff_arguments(wrong)


def test_export_without_entries_has_the_header_only():
    assert record.to_csv([]).decode("utf-8-sig").strip() == ";".join(record.COLUMNS)
    sheet = load_workbook(io.BytesIO(record.to_xlsx([]))).active
    assert sheet.max_row == 1


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_TEXTS = {
    'ok;=HYPERLINK("http://evil.example","clic")': 'ok;\'=HYPERLINK("http://evil.example","clic")',
    "ok,+SUM(1;2)": "ok,'+SUM(1;2)",
    "prima riga\n@cmd": "prima riga\n'@cmd",
    'ok; "=1+1"': 'ok; "\'=1+1"',
    "\t=tab": "'\t=tab",
    "-2+3": "'-2+3",
    "Incontro - fase 2, via Roma 3": "Incontro - fase 2, via Roma 3",
}


def test_the_csv_is_the_one_italian_excel_opens_and_safe_with_any_separator():
    rows = [
        ExportRow(
            RecordEntry(
                reference=f"P-2026-{number:05}",
                created_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
                kind="comment",
                text=text,
                tags=[],
            ),
            "u-1",
        )
        for number, text in enumerate(HOSTILE_TEXTS, start=1)
    ]
    content = record.to_csv(rows)
    assert content.startswith(codecs.BOM_UTF8)
    text = content.decode("utf-8-sig")
    assert text.startswith(";".join(record.COLUMNS) + "\r\n")
    read = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert [row["text"] for row in read] == list(HOSTILE_TEXTS.values())
    assert read[0]["created_at"] == "2026-03-02T10:30:00+01:00"
    # Whichever separator the spreadsheet picks, and even split naively, no cell is a formula.
    for delimiter in (";", ","):
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            for cell in row:
                assert not cell.lstrip(' "').startswith(FORMULA_START), (delimiter, cell)
    for line in text.splitlines():
        for part in re.split("[;,]", line):
            assert not part.lstrip(' "').startswith(FORMULA_START), part


def test_export_row_never_carries_telegram_ids():
    assert not any("telegram" in column or "chat" in column for column in record.COLUMNS)
    assert ExportRow.__dataclass_fields__.keys() == {"entry", "pseudonym"}


async def test_concurrent_contributions_get_distinct_numbers(db):
    async def one():
        async with db.transaction() as session:
            entry = await participation.add_entry(
                session,
                kind=EntryKind.FREE,
                subject=None,
                participant=None,
                language="it",
                now=utcnow(),
                text=participation.cap_text("x"),
            )
            return entry.reference

    references = await asyncio.gather(*(one() for _ in range(8)))
    assert len(set(references)) == 8


def _values(data: object) -> list[object]:
    """Every scalar in a JSON document."""
    if isinstance(data, dict):
        return [value for item in data.values() for value in _values(item)]
    if isinstance(data, list):
        return [value for item in data for value in _values(item)]
    return [data]
