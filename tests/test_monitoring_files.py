"""Monitoring files as people make them: Excel and LibreOffice CSVs, numbers written by hand,
and every problem explained in the staff member's language."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from bot.db.models import PlanAction
from bot.i18n import use_locale
from bot.services import monitoring
from bot.services.monitoring_sources import INDICATOR, RawRecord, SourceError, read_named
from bot.services.monitoring_validate import InvalidDataset, Reference, validate

ADMIN = 4242
ADMIN_EN = 4343
REFERENCE = Reference(
    strategies=frozenset({"S1"}),
    zones={"genova": "genova"},
    comuni={},
    comune_zones={},
    known_actions=frozenset({"A1"}),
)

# --- numbers -------------------------------------------------------------------------

READABLE_NUMBERS = {
    "1250.5": 1250.5,
    "1250,5": 1250.5,
    "1.250,50": 1250.5,  # Italian, with thousands
    "1,250.50": 1250.5,  # English, with thousands
    "1.250.000": 1250000,
    "1,250,000": 1250000,
    "2.400.000,00": 2400000,
    "€ 1 250,50": 1250.5,
    "1\u00a0250,5": 1250.5,
    "-3,5": -3.5,
    "0,125": 0.125,
    "0.125": 0.125,
    "12": 12,
    "12,50": 12.5,
}


def baseline(value) -> RawRecord:
    fields = {"action": "A1", "code": "I1", "name_it": "Indicatore", "baseline": value}
    return RawRecord(INDICATOR, fields, "indicators.csv line 2")


@pytest.mark.parametrize(("written", "number"), READABLE_NUMBERS.items())
def test_numbers_are_read_in_italian_and_english_style(written, number):
    (indicator,) = validate([baseline(written)], REFERENCE).indicators
    assert indicator.baseline == number


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("1.250", "baseline: '1.250' is ambiguous (thousands or decimals?)"),
        ("12,500", "baseline: '12,500' is ambiguous (thousands or decimals?)"),
        ("1,25.50", "baseline: '1,25.50' has separators that cannot be read"),
        ("1.2,5", "baseline: '1.2,5' has separators that cannot be read"),
        ("1,250,50", "baseline: '1,250,50' has separators that cannot be read"),
        ("1.250,000.5", "baseline: '1.250,000.5' has separators that cannot be read"),
        ("1..5", "baseline: '1..5' has separators that cannot be read"),
        ("dodici", "baseline: 'dodici' is not a number"),
    ],
)
def test_numbers_that_could_be_misread_are_refused_with_a_reason(written, reason):
    with pytest.raises(InvalidDataset) as raised:
        validate([baseline(written)], REFERENCE)
    (error,) = raised.value.errors
    assert str(error).startswith(f"indicators.csv line 2: {reason}")


def test_the_ambiguity_is_explained_in_italian():
    with pytest.raises(InvalidDataset) as raised:
        validate([baseline("1.250")], REFERENCE)
    with use_locale("it"):
        text = raised.value.errors[0].text()
    assert text == (
        "indicators.csv line 2: baseline: «1.250» è ambiguo (migliaia o decimali?): scrivere "
        "i numeri interi senza separatori delle migliaia, come 1250, e i decimali dopo una "
        "virgola o un punto, come 1,25"
    )


# --- CSV files as spreadsheet programs save them ---------------------------------------

TITLE_IT = 'Progetto "Porto Antico", fase 2'
TITLE_EN = 'Project "Old Port"; phase 2'
DESCRIPTION = "Prima riga; con punto e virgola\nseconda riga, con virgola"
HEADER = ["record", "code", "strategy", "title_it", "title_en", "description_it", "status"]
HEADER += ["progress", "funding_amount_eur"]


def saved(*, delimiter: str, amount: str, bom: bool, newline: str, quote_all: bool) -> bytes:
    """The CSV a spreadsheet program writes for one action and one bad row after it."""
    buffer = io.StringIO()
    quoting = csv.QUOTE_NONNUMERIC if quote_all else csv.QUOTE_MINIMAL
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=quoting)
    writer.writerow(HEADER)
    # A line break inside a cell is written as LF, whatever ends the lines.
    writer.writerow(["action", "Q1", "S1", TITLE_IT, TITLE_EN, DESCRIPTION, "in_progress", 10])
    writer.writerow(["action", "Q2", "S1", "Altro", "", "", "in_progress", 10, amount])
    writer.writerow(["action", "Q3", "S1", "Terza", "", "", "boh", 10, ""])
    return (codecs.BOM_UTF8 if bom else b"") + buffer.getvalue().encode("utf-8")


SAVED_BY = {
    "Excel, CSV UTF-8 (English)": saved(
        delimiter=",", amount="1250.5", bom=True, newline="\r\n", quote_all=False
    ),
    "Excel, CSV UTF-8 (Italian)": saved(
        delimiter=";", amount="1.250,50", bom=True, newline="\r\n", quote_all=False
    ),
    "LibreOffice, defaults": saved(
        delimiter=",", amount="1250.5", bom=False, newline="\n", quote_all=False
    ),
    "LibreOffice, ';' and quoted text": saved(
        delimiter=";", amount="1250,5", bom=False, newline="\n", quote_all=True
    ),
    "Excel, Unicode text": None,  # tab-separated UTF-16, below
}


def unicode_text() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerow(["action", "Q1", "S1", TITLE_IT, TITLE_EN, DESCRIPTION, "in_progress", 10])
    writer.writerow(["action", "Q2", "S1", "Altro", "", "", "in_progress", 10, "1250,5"])
    writer.writerow(["action", "Q3", "S1", "Terza", "", "", "boh", 10, ""])
    return codecs.BOM_UTF16_LE + buffer.getvalue().encode("utf-16-le")


@pytest.mark.parametrize("program", SAVED_BY)
def test_a_csv_saved_by_excel_or_libreoffice_reads_as_written(program):
    content = SAVED_BY[program] or unicode_text()
    records = read_named(content, "azioni.csv")

    assert [record.fields["code"] for record in records] == ["Q1", "Q2", "Q3"]
    first = records[0].fields
    assert (first["title_it"], first["title_en"]) == (TITLE_IT, TITLE_EN)
    assert first["description_it"] == DESCRIPTION
    assert (first["status"], first["progress"]) == ("in_progress", "10")
    # The row after a cell with a line break is found at the line where it starts.
    assert [str(record.where) for record in records] == [
        "azioni.csv line 2",
        "azioni.csv line 4",
        "azioni.csv line 5",
    ]
    with pytest.raises(InvalidDataset) as raised:
        validate(records, REFERENCE)
    (error,) = raised.value.errors
    assert str(error).startswith("azioni.csv line 5: status: unknown status 'boh'")
    (_first, second) = validate(records[:2], REFERENCE).actions
    assert second.funding_amount_eur == 1250.5


async def test_the_excel_line_of_the_issue_imports_with_its_quotes_and_commas(db):
    content = (
        b"record,code,strategy,title_it,title_en,status,progress\r\n"
        b'action,Q1,S1,"Progetto ""Porto Antico"", fase 2","Project ""Old Port"", phase 2",'
        b"in_progress,10\r\n"
    )
    async with db.transaction() as session:
        await monitoring.import_records(
            session, read_named(content, "dati.csv"), today=date(2026, 3, 2)
        )
    async with db.transaction() as session:
        action = await session.scalar(select(PlanAction).where(PlanAction.code == "Q1"))
    assert action.title_it == 'Progetto "Porto Antico", fase 2'
    assert action.title_en == 'Project "Old Port", phase 2'


def test_a_csv_in_another_encoding_is_refused_with_what_to_do():
    content = "code;strategy;title_it\nA1;S1;Serra Riccò\n".encode("cp1252")
    with pytest.raises(SourceError) as raised:
        read_named(content, "azioni.csv")
    with use_locale("it"):
        assert raised.value.text() == (
            "azioni.csv: il testo non è in UTF-8 (salvare il file come UTF-8; in Excel: "
            "«CSV UTF-8 (delimitato da virgole)»)"
        )


# --- the staff member's language --------------------------------------------------------

KNOWN_ZONES = (
    "entella, genova, golfo_paradiso, ponente, tigullio, val_petronio, "
    "val_trebbia_alta_val_bisagno, valli_del_levante, valli_polcevera_scrivia"
)
BAD_CSV = (
    b"code;strategy;title_it;zones;status;progress;start;funding_amount_eur;links\n"
    b"A1;S1;Porto;marte;in corso;10;2026-01-01;1,250.50;\n"
    b"A2;S9;Porto;genova;boh;120;01/13/2026;1.250;ftp://x\n"
    b"A3;S1;;genova;in corso;10;;;\n"
)
ITALIAN = [
    "Non è stato importato nulla: 8 problemi.",
    f"• azioni.csv, riga 2: zones: zona «marte» sconosciuta (disponibili: {KNOWN_ZONES})",
    "• azioni.csv, riga 3: strategy: strategia «S9» sconosciuta (disponibili: S1, S2, S3, S4, S5)",
    "• azioni.csv, riga 3: status: stato «boh» sconosciuto (usare planned, in_progress, "
    "delayed, completed, suspended)",
    "• azioni.csv, riga 3: progress: «120» non è un numero intero da 0 a 100",
    "• azioni.csv, riga 3: start: «01/13/2026» non è una data (AAAA-MM-GG o GG/MM/AAAA)",
    "• azioni.csv, riga 3: funding_amount_eur: «1.250» è ambiguo (migliaia o decimali?): "
    "scrivere i numeri interi senza separatori delle migliaia, come 1250, e i decimali dopo "
    "una virgola o un punto, come 1,25",
    "• azioni.csv, riga 3: links: «ftp://x» non è un collegamento http(s)",
    "• azioni.csv, riga 4: title_it: valore mancante",
]
ENGLISH = [
    "Nothing imported: 8 problems.",
    f"• azioni.csv line 2: zones: unknown zone 'marte' (known: {KNOWN_ZONES})",
    "• azioni.csv line 3: strategy: unknown strategy 'S9' (known: S1, S2, S3, S4, S5)",
    "• azioni.csv line 3: status: unknown status 'boh' (use planned, in_progress, delayed, "
    "completed, suspended)",
    "• azioni.csv line 3: progress: '120' is not a whole number from 0 to 100",
    "• azioni.csv line 3: start: '01/13/2026' is not a date (YYYY-MM-DD or DD/MM/YYYY)",
    "• azioni.csv line 3: funding_amount_eur: '1.250' is ambiguous (thousands or decimals?): "
    "write whole numbers without a thousands separator, such as 1250, and decimals after a "
    "comma or a point, such as 1,25",
    "• azioni.csv line 3: links: 'ftp://x' is not an http(s) link",
    "• azioni.csv line 4: title_it: missing",
]


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN, ADMIN_EN}))


def bad_workbook() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "azioni"
    sheet.append(["code", "strategy", "title_it", "status", "colore"])
    sheet.append(["A1", "S1", "Porto", "in corso", "blu"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.usefixtures("running_bot")
async def test_an_invalid_upload_is_explained_wholly_in_the_staff_members_language(sandbox):
    italian = sandbox.user(ADMIN, first_name="Ufficio", language_code="it")
    english = sandbox.user(ADMIN_EN, first_name="Office", language_code="en")

    await italian.send_document("azioni.csv", BAD_CSV, mime_type="text/csv")
    assert italian.last_bot_message.text.splitlines() == ITALIAN
    await english.send_document("azioni.csv", BAD_CSV, mime_type="text/csv")
    assert english.last_bot_message.text.splitlines() == ENGLISH

    await italian.send_document("monitoraggio.xlsx", bad_workbook())
    assert italian.last_bot_message.text.splitlines() == [
        "Non è stato importato nulla: 1 problema.",
        "• monitoraggio.xlsx, foglio azioni, riga 2: colonna «colore» sconosciuta per il tipo "
        "action",
    ]
    await english.send_document("monitoraggio.xlsx", bad_workbook(), caption="check")
    assert english.last_bot_message.text.splitlines() == [
        "Nothing imported: 1 problem.",
        "• monitoraggio.xlsx, sheet azioni, row 2: unknown column 'colore' for action",
    ]

    broken = b'{"actions": [}'
    await italian.send_document("dati.json", broken, mime_type="application/json")
    assert italian.last_bot_message.text == (
        "Non è stato importato nulla: dati.json, riga 1: JSON non valido (colonna 14)"
    )
    await english.send_document("dati.json", broken, mime_type="application/json")
    assert english.last_bot_message.text == (
        "Nothing imported: dati.json line 1: invalid JSON (column 14)"
    )
    await italian.send_document("dati.yaml", b"actions:\n  - code: [\n")
    assert italian.last_bot_message.text.startswith(
        "Non è stato importato nulla: dati.yaml, riga 3: YAML non valido (colonna 1)"
    )
    await italian.send_document("azioni.csv", b"\xef\xbb\xbf")
    assert italian.last_bot_message.text == "Non è stato importato nulla: azioni.csv: file vuoto"
