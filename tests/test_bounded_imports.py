"""Imports are bounded and never block the bot: a monitoring file or a calendar is read off
the event loop, at most MAX_RECORDS records, and a file that would take too much memory is
refused before it is read — each refusal with a reason in the staff member's language."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.services import event_ics, monitoring_sources
from bot.services.monitoring_sources import MAX_RECORDS, SourceError, read_files, read_named

ADMIN = 4242
ADMIN_EN = 4343
CITIZEN = 777
REPORT_TIMEOUT_S = 600  # the machine may be loaded: behaviour is asserted, never speed


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN, ADMIN_EN}))


def actions_csv(count: int, tail: str = "") -> bytes:
    rows = "".join(f"X{n},S1,Azione {n},planned,0\n" for n in range(count))
    return ("code,strategy,title_it,status,progress\n" + rows + tail).encode()


def measurements_csv(count: int) -> bytes:
    """One action, one indicator and `count` monthly measurements of it."""
    lines = [
        "record,code,strategy,title_it,status,action,name_it,indicator,period,value",
        "action,S1.900,S1,Azione di prova,planned,,,,,",
        "indicator,I1,,,,S1.900,Indicatore di prova,,,",
    ]
    lines += [
        f"measurement,,,,,S1.900,,I1,{1000 + n // 12}-{n % 12 + 1:02d},{n}" for n in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


# --- limits, before and while reading ------------------------------------------------------


def test_a_csv_stops_at_the_record_limit_without_reading_the_rest():
    # What follows the limit would fail to parse: it is never read.
    unreadable_tail = 'X,S1,"' + "x" * 200_000 + '",planned,0\n'
    with pytest.raises(SourceError) as refused:
        read_named(actions_csv(MAX_RECORDS + 1, unreadable_tail), "actions.csv")
    assert str(refused.value) == (
        f"actions.csv: more than {MAX_RECORDS} records; import the data in smaller files"
    )
    assert len(read_named(actions_csv(MAX_RECORDS), "actions.csv")) == MAX_RECORDS


def test_the_limit_holds_for_several_files_together(tmp_path: Path):
    first, second = tmp_path / "actions.csv", tmp_path / "azioni.csv"
    first.write_bytes(actions_csv(MAX_RECORDS // 2 + 1))
    second.write_bytes(actions_csv(MAX_RECORDS // 2 + 1))
    with pytest.raises(SourceError, match=f"azioni.csv: more than {MAX_RECORDS} records"):
        read_files([first, second])


def test_a_yaml_alias_bomb_stops_at_the_record_limit():
    # 100 actions × 100 indicators × 100 measurements, written in a few hundred bytes.
    bomb = "\n".join(
        [
            'm: &m {period: "2020", value: 1}',
            "i: &i {code: I1, name_it: x, measurements: [" + ", ".join(["*m"] * 100) + "]}",
            "a: &a {code: X, strategy: S1, title_it: x, indicators: ["
            + ", ".join(["*i"] * 100)
            + "]}",
            "actions: [" + ", ".join(["*a"] * 100) + "]",
        ]
    )
    with pytest.raises(SourceError, match=f"monitoraggio.yaml: more than {MAX_RECORDS} records"):
        read_named(bomb.encode(), "monitoraggio.yaml")


def test_a_file_too_large_is_refused_unread(tmp_path: Path):
    big = tmp_path / "actions.csv"
    big.write_bytes(b"code,strategy,title_it\n" + b"A1,S1,x\n" * (10 + 2_000_000))
    assert big.stat().st_size > monitoring_sources.MAX_FILE_BYTES
    with pytest.raises(SourceError, match=r"actions\.csv: the file is larger than 10 MB"):
        read_files([big])


def workbook_bytes(rows: int = 2, columns: int = 3) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "actions"
    sheet.append(["code", "strategy", "title_it"])
    for n in range(rows - 1):
        sheet.append([f"X{n}", "S1", f"Azione {n}"])
    if columns > 3:
        sheet.cell(row=1, column=columns, value="x")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def declaring(content: bytes, dimension: str) -> bytes:
    """The same workbook with its first sheet declaring another size (as a crafted file may)."""
    source, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                start = data.index(b"<dimension ref=")
                end = data.index(b"/>", start)
                data = data[:start] + f'<dimension ref="{dimension}"'.encode() + data[end:]
            target.writestr(member, data)
    return out.getvalue()


def test_a_sheet_declaring_more_rows_or_columns_than_allowed_is_refused_before_reading():
    with pytest.raises(SourceError) as rows:
        read_named(declaring(workbook_bytes(), "A1:C1048576"), "monitoraggio.xlsx")
    assert str(rows.value) == (
        "monitoraggio.xlsx, sheet actions: 1048576 rows; "
        f"at most {MAX_RECORDS} can be imported at once"
    )
    with pytest.raises(SourceError, match="16384 columns; at most 200"):
        read_named(declaring(workbook_bytes(), "A1:XFD3"), "monitoraggio.xlsx")
    assert len(read_named(workbook_bytes(rows=3), "monitoraggio.xlsx")) == 2


def test_a_workbook_that_unpacks_too_large_is_refused_before_loading():
    out, source = io.BytesIO(), zipfile.ZipFile(io.BytesIO(workbook_bytes()))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for member in source.infolist():
            bomb.writestr(member, source.read(member))
        bomb.writestr("xl/media/padding.bin", b"\0" * (monitoring_sources.MAX_XLSX_UNPACKED_BYTES))
    assert len(out.getvalue()) < 1_000_000
    with pytest.raises(SourceError, match="unpacks to more than 60 MB"):
        read_named(out.getvalue(), "monitoraggio.xlsx")


# --- through Telegram ----------------------------------------------------------------------


@pytest.mark.usefixtures("running_bot")
async def test_a_file_over_the_limit_is_refused_in_the_staff_members_language(sandbox):
    italian = sandbox.user(ADMIN, first_name="Ufficio", language_code="it")
    english = sandbox.user(ADMIN_EN, first_name="Office", language_code="en")
    content = actions_csv(MAX_RECORDS + 1)
    await italian.send_document("azioni.csv", content, timeout=REPORT_TIMEOUT_S)
    assert italian.last_bot_message.text == (
        f"Non è stato importato nulla: azioni.csv: più di {MAX_RECORDS} record; "
        "suddividere i dati in file più piccoli"
    )
    await english.send_document("actions.csv", content, timeout=REPORT_TIMEOUT_S)
    assert english.last_bot_message.text == (
        f"Nothing imported: actions.csv: more than {MAX_RECORDS} records; "
        "import the data in smaller files"
    )


@pytest.mark.usefixtures("running_bot")
async def test_another_user_is_answered_while_a_big_upload_is_imported(sandbox):
    admin = sandbox.user(ADMIN, language_code="en")
    citizen = sandbox.user(CITIZEN, language_code="en")
    await citizen.send("/start")
    welcomes = len(citizen.bot_messages)

    await admin.send_document(
        "monitoraggio.csv", measurements_csv(MAX_RECORDS - 2), expect_reply=False
    )
    await citizen.send("/start", timeout=REPORT_TIMEOUT_S)
    assert len(citizen.bot_messages) > welcomes
    assert admin.bot_messages == [], "the citizen waited for the import"

    await sandbox.wait_until(lambda: admin.bot_messages, timeout=REPORT_TIMEOUT_S)
    lines = admin.last_bot_message.text.splitlines()
    assert lines[:2] == [
        "Imported monitoraggio.csv",
        f"In the file: 1 new action, 1 indicator, {MAX_RECORDS - 2:,} measurements, "
        "0 annual reviews.",
    ]


# --- calendars by URL: the feed fetcher's limits -------------------------------------------

MB = 1_000_000


@pytest.fixture
async def calendar_server(monkeypatch):
    from tests.feed_server import FeedServer, without_proxies

    without_proxies(monkeypatch)
    # A fetch has 30 s in all; the trickling server is given up on within 3 here.
    monkeypatch.setattr(event_ics, "FETCH_TIMEOUT_S", 3.0)
    async with FeedServer.running() as server:
        server.stream("/huge.ics", 300 * MB)
        server.gzip_bomb("/bomb.ics", 1000 * MB)
        server.trickle("/slow.ics", every_s=5)
        server.redirect("/loop.ics", "/again.ics", status=302)
        server.redirect("/again.ics", "/loop.ics", status=302)
        yield server


CALENDAR_FAILURES = {
    "/huge.ics": f"body exceeds {event_ics.MAX_ICS_BYTES} bytes",
    "/bomb.ics": f"body exceeds {event_ics.MAX_ICS_BYTES} bytes",
    "/slow.ics": "no complete answer within 3 s",
    "/loop.ics": "redirect loop back to ",
}


def assert_stopped_early(server) -> None:
    assert server.sent["/huge.ics"] < 100 * MB  # of 300 MB
    assert server.sent["/bomb.ics"] < 10 * MB  # compressed bytes of 1 GB of zeros (~1 MB)


@pytest.mark.parametrize("path", list(CALENDAR_FAILURES))
async def test_the_command_line_gives_up_a_calendar_url_beyond_the_limits(
    db, settings, calendar_server, capsys, path
):
    from tests.test_events import run_cli

    url = calendar_server.url(path)
    assert await run_cli(settings, "import-ics", url) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"psm-bot: events: {url}: {CALENDAR_FAILURES[path]}")
    assert err.count("\n") == 1 and "Traceback" not in err
    if path in ("/huge.ics", "/bomb.ics"):
        assert calendar_server.sent[path] < (100 if path == "/huge.ics" else 10) * MB


async def test_the_job_records_each_calendar_beyond_the_limits_and_goes_on(db, calendar_server):
    from bot.jobs.events import EventJob, event_round

    async with db.transaction() as session:
        for path in CALENDAR_FAILURES:
            await event_ics.add_source(session, calendar_server.url(path))
    await event_round(EventJob(db))
    async with db.transaction() as session:
        errors = {
            source.url.removeprefix(calendar_server.base_url): source.last_error
            for source in await event_ics.list_sources(session)
        }
    assert errors.keys() == CALENDAR_FAILURES.keys()
    for path, error in errors.items():
        assert error.startswith(CALENDAR_FAILURES[path]), (path, error)
    assert_stopped_early(calendar_server)


# --- calendars: files and expansion --------------------------------------------------------


def daily_series(count: int) -> bytes:
    """`count` endless daily series, from 5 January 2026."""
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:serie-{n}@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:20260105T090000Z\r\nRRULE:FREQ=DAILY\r\nSUMMARY:Sportello {n}\r\nEND:VEVENT\r\n"
        for n in range(count)
    )
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//IT\r\n" + events + "END:VCALENDAR\r\n"
    ).encode()


def test_a_calendar_expanding_to_too_many_events_is_refused():
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert len(event_ics.parse_calendar(daily_series(2), now)) == 2 * 361  # 5 Jan to 1 Jan
    with pytest.raises(event_ics.CalendarError, match="more than 5000 events within a year"):
        event_ics.parse_calendar(daily_series(event_ics.MAX_EVENTS // 365 + 1), now)


async def test_a_calendar_file_too_large_is_refused_unread(db, settings, tmp_path, capsys):
    from tests.test_events import run_cli

    big = tmp_path / "agenda.ics"
    big.write_bytes(daily_series(1) + b" " * event_ics.MAX_ICS_BYTES)
    assert await run_cli(settings, "import-ics", str(big)) == 2
    assert capsys.readouterr().err == (
        f"psm-bot: events: agenda.ics: larger than {event_ics.MAX_ICS_BYTES} bytes\n"
    )


async def test_an_sql_source_returning_too_many_rows_imports_nothing(db, tmp_path):
    import sqlite3

    from bot.services.monitoring_remote import PollStatus, poll_sql

    path = tmp_path / "esterno.sqlite3"
    with sqlite3.connect(path) as external:
        external.execute("CREATE TABLE azioni (code, strategy, title_it, status)")
        external.executemany(
            "INSERT INTO azioni VALUES (?, 'S1', 'Azione', 'planned')",
            [(f"X{n}",) for n in range(MAX_RECORDS + 1)],
        )
    outcome = await poll_sql(db, f"sqlite:///{path}", "SELECT * FROM azioni")
    assert outcome.status is PollStatus.FAILED
    assert outcome.error == (
        f"SQL: more than {MAX_RECORDS} records; import the data in smaller files"
    )
