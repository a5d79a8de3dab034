"""Importing the plan's monitoring data: every format, validation with places, all or nothing."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bot.cli import main
from bot.db.models import AnnualReview, Indicator, Measurement, Notification, PlanAction
from bot.services import monitoring, monitoring_validate
from bot.services.monitoring_sources import SourceError, read_file
from bot.services.monitoring_validate import InvalidDataset
from feeds.classify import fold

SAMPLE = Path(__file__).resolve().parent.parent / "bot" / "data" / "monitoring_sample.yaml"
UPDATE_CSV = Path(__file__).resolve().parent / "data" / "monitoring_update.csv"
TODAY = date(2026, 3, 2)

ACTION_HEADER = "code,strategy,title_it,zones,comuni,status,progress,start,end\n"


async def import_files(db, *paths: Path, notify: bool = True) -> monitoring.ImportReport:
    records = [record for path in paths for record in read_file(path)]
    async with db.transaction() as session:
        return await monitoring.import_records(session, records, today=TODAY, notify=notify)


async def count(db, model) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def problems(db, *paths: Path) -> list[str]:
    with pytest.raises(InvalidDataset) as raised:
        await import_files(db, *paths)
    return [str(error) for error in raised.value.errors]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_the_sample_dataset_imports_and_importing_it_again_changes_nothing(db):
    first = await import_files(db, SAMPLE)
    assert (first.actions, first.new_actions, first.reviews) == (13, 13, 1)
    assert len(first.notification_ids) == 14  # 13 new actions and the 2024 review
    assert await count(db, Indicator) == 11
    assert await count(db, Measurement) == 20
    again = await import_files(db, SAMPLE)
    assert again.changes == [] and again.notification_ids == []
    assert await count(db, Notification) == 14
    async with db.transaction() as session:
        card = await monitoring.action_card(session, "S4.1")
    assert card.action.sample is True
    assert card.comune_names == ["Lavagna"] and card.zone_names == ["Entella"]
    assert card.action.funding_amount_eur == 2_400_000
    assert card.indicators[0].latest.period == "2024"


async def test_the_csv_update_imports_after_the_sample_and_again_changes_nothing(db):
    await import_files(db, SAMPLE, notify=False)
    report = await import_files(db, UPDATE_CSV)
    assert sorted(c.kind.value for c in report.changes) == [
        "date_slipped",
        "measurement",
        "new_action",
        "progress",
        "review",
        "status",
        "target_reached",
    ]
    assert (await import_files(db, UPDATE_CSV)).changes == []
    async with db.transaction() as session:
        action = await session.get(PlanAction, "S4.1")
        review = await session.get(AnnualReview, 2025)
    assert (action.status, action.progress_pct, action.end_date) == (
        "delayed",
        55,
        date(2026, 6, 30),
    )
    assert action.funding_amount_eur == 2_400_000  # Italian "2.400.000,00"
    assert review.published_on == date(2025, 6, 20)


async def test_bad_csv_rows_are_reported_with_line_and_reason_and_nothing_is_imported(db, tmp_path):
    path = write(
        tmp_path,
        "actions.csv",
        ACTION_HEADER
        + "S9.1,S2,Azione buona,tigullio,,planned,0,,\n"
        + "S9.2,S7,Strategia inesistente,,,planned,0,,\n"
        + "S9.3,S2,Avanzamento impossibile,,,in_progress,120,,\n"
        + "S9.4,S2,Data sbagliata,,,planned,0,2026-13-01,\n"
        + "S9.5,S2,Comune sconosciuto,,Atlantide,planned,0,,\n"
        + "S9.6,S2,Stato sconosciuto,,,forse,0,,\n"
        + "S9.7,S2,Fine prima di inizio,,,planned,0,2026-05-01,2026-01-01\n"
        + "S9.1,S2,Doppione,,,planned,0,,\n"
        + ",S2,,,,planned,0,,\n",
    )
    found = await problems(db, path)
    assert found == [
        "actions.csv line 3: strategy: unknown strategy 'S7' (known: S1, S2, S3, S4, S5)",
        "actions.csv line 4: progress: '120' is not a whole number from 0 to 100",
        "actions.csv line 5: start: '2026-13-01' is not a date (YYYY-MM-DD or DD/MM/YYYY)",
        "actions.csv line 6: comuni: unknown comune 'Atlantide'",
        "actions.csv line 7: status: unknown status 'forse' "
        "(use planned, in_progress, delayed, completed, suspended)",
        "actions.csv line 8: end: the end date comes before the start date",
        "actions.csv line 9: action S9.1 appears twice (first at actions.csv line 2)",
        "actions.csv line 10: code: missing",
        "actions.csv line 10: title_it: missing",
    ]
    assert await count(db, PlanAction) == 0


async def test_one_bad_row_among_several_files_leaves_the_database_untouched(db, tmp_path):
    await import_files(db, SAMPLE, notify=False)
    before = await count(db, Measurement)
    good = write(tmp_path, "measurements.csv", "action,indicator,period,value\nS2.1,I1,2025,5000\n")
    bad = write(tmp_path, "indicators.csv", "action,code,name_it\nS2.1,I9,\nS8.8,I1,Nuovo\n")
    found = await problems(db, good, bad)
    assert found == [
        "indicators.csv line 2: name_it: missing",
        "indicators.csv line 3: action: unknown action 'S8.8'",
    ]
    assert await count(db, Measurement) == before


async def test_measurements_need_a_known_indicator_and_a_valid_period(db, tmp_path):
    await import_files(db, SAMPLE, notify=False)
    path = write(tmp_path, "dati.csv", "action;indicator;period;value\n")
    with pytest.raises(SourceError, match="add a 'record' column"):
        read_file(path)
    path = write(
        tmp_path,
        "measurements.csv",
        "action;indicator;period;value\nS2.1;I7;2025;1\nS2.1;I1;2025-13;1\nS2.1;I1;2026;tanti\n",
    )
    assert await problems(db, path) == [
        "measurements.csv line 3: period: '2025-13' is not a period "
        "(2024, 2024-06, 2024-Q2 or 2024-S1)",
        "measurements.csv line 4: value: 'tanti' is not a number",
        "measurements.csv line 2: indicator: unknown indicator 'I7' of action 'S2.1'",
    ]


async def test_unknown_columns_are_refused_so_typos_do_not_lose_data(db, tmp_path):
    path = write(
        tmp_path, "actions.csv", "code,strategy,title_it,status,progess\nA1,S1,T,planned,50\n"
    )
    assert await problems(db, path) == ["actions.csv line 2: unknown column 'progess' for action"]


def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


async def test_a_spreadsheet_with_a_sheet_per_table_imports(db, tmp_path):
    await import_files(db, SAMPLE, notify=False)
    path = workbook(
        tmp_path / "monitoraggio-2025.xlsx",
        {
            "Note": [["Monitoraggio 2025 (dati di esempio)"]],
            "actions": [
                ["code", "strategy", "title_it", "status", "progress", "start", "end", "sample"],
                [
                    "S5.1",
                    "S5",
                    "Data Lab",
                    "in_progress",
                    45,
                    date(2024, 1, 1),
                    date(2027, 6, 30),
                    "x",
                ],
            ],
            "measurements": [
                ["action", "indicator", "period", "value"],
                ["S5.1", "I1", 2025, 20],
            ],
        },
    )
    report = await import_files(db, path)
    assert sorted(c.kind.value for c in report.changes) == [
        "date_slipped",
        "measurement",
        "progress",
    ]
    async with db.transaction() as session:
        action = await session.get(PlanAction, "S5.1")
    assert (action.progress_pct, action.end_date) == (45, date(2027, 6, 30))


async def test_a_bad_spreadsheet_row_is_reported_with_its_sheet_and_row(db, tmp_path):
    path = workbook(
        tmp_path / "monitoraggio.xlsx",
        {
            "Azioni": [
                ["code", "strategy", "title_it", "status", "progress"],
                ["S1.9", "S1", "Buona", "planned", 0],
                ["S1.8", "S1", "Cattiva", "planned", "molto"],
            ]
        },
    )
    assert await problems(db, path) == [
        "monitoraggio.xlsx, sheet Azioni, row 3: progress: 'molto' is not a whole number "
        "from 0 to 100"
    ]
    assert await count(db, PlanAction) == 0


async def test_yaml_problems_point_at_the_line_and_json_problems_at_the_path(db, tmp_path):
    yaml_path = write(
        tmp_path,
        "dati.yaml",
        "actions:\n"
        "  - code: S1.9\n"
        "    strategy: S1\n"
        "    title_it: Azione\n"
        "    status: planned\n"
        "    indicators:\n"
        "      - code: I1\n"
        "        name_it: Indicatore\n"
        "        measurements:\n"
        "          - {period: '2025', value: abc}\n",
    )
    assert await problems(db, yaml_path) == ["dati.yaml line 10: value: 'abc' is not a number"]
    data = {"actions": [{"code": "S1.9", "strategy": "S1", "title_it": "A", "status": "boh"}]}
    json_path = write(tmp_path, "dati.json", json.dumps(data))
    assert await problems(db, json_path) == [
        "dati.json actions[0]: status: unknown status 'boh' "
        "(use planned, in_progress, delayed, completed, suspended)"
    ]
    broken = write(tmp_path, "rotto.json", '{"actions": [}')
    with pytest.raises(SourceError, match=r"rotto.json line 1: invalid JSON"):
        read_file(broken)


def test_the_command_line_import_reports_problems_and_then_imports(
    database_url, db, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    bad = write(tmp_path, "actions.csv", ACTION_HEADER + "S9.1,S9,Titolo,,,planned,0,,\n")
    assert main(["monitoring", "import", str(bad)]) == 2
    assert "actions.csv line 2: strategy: unknown strategy 'S9'" in capsys.readouterr().err
    assert main(["monitoring", "import", "--dry-run", str(SAMPLE)]) == 0
    assert "dry run, nothing saved: 13 actions (13 new)" in capsys.readouterr().out
    assert main(["monitoring", "import", "--no-notify", str(SAMPLE)]) == 0
    assert "0 notifications queued" in capsys.readouterr().out
    assert main(["monitoring", "list", "--strategy", "s4"]) == 0
    listing = capsys.readouterr().out
    assert "S4.1" in listing and "in_progress" in listing and "[sample]" in listing


async def test_feedback_can_be_about_an_imported_action(db):
    from bot.services import subjects

    await import_files(db, SAMPLE, notify=False)
    async with db.transaction() as session:
        subject = await subjects.chosen(session, "action", "S4.1")
        assert await subjects.chosen(session, "action", "S9.9") is None
    assert subject.kind == "action" and subject.name_it.startswith("S4.1 · ")
    assert ("action", "S4.1") in subject.tags and ("strategy", "S4") in subject.tags


def test_one_fold_for_every_name_the_bot_matches():
    """Monitoring imports, plan search, /profile and feed tagging fold names the same way."""
    assert monitoring.fold is monitoring_validate.fold is fold
    assert fold("  Serrà  Riccò ") == fold("serra ricco") == "serra ricco"
    assert fold("Sant’Olcese") == fold("SANT`OLCESE") == "sant'olcese"
