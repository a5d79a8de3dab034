"""The public pages "Il Piano in cifre" in a real browser (headless Chromium, selenium).

The pages are served by the bot's own web server (`WebServer` with the `SiteServer` the
runtime gives it) on 127.0.0.1, from a database where the monitoring sample and its CSV
update were imported, a few events created and contributions recorded. What a reader sees is
compared with the database; every page type is scanned by axe-core, at desktop and phone
size, and saved as a screenshot in test-artifacts/screenshots/.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import icalendar
import pytest
from babel.numbers import format_decimal, format_percent
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select

from bot.db.engine import Database
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
)
from bot.i18n import _, use_locale
from bot.metrics import Metrics
from bot.services import events, monitoring, participation, subjects
from bot.services.events import EventDraft
from bot.services.monitoring_sources import read_file
from bot.services.participation import CappedText
from bot.site.layout import SiteOptions
from bot.site.server import SiteServer
from bot.web import HealthCheck, WebServer
from tests.browser.conftest import (
    PHONE,
    ServerThread,
    describe_violations,
    network_log,
    serious_violations,
)

DATA = Path(__file__).resolve().parents[2] / "bot" / "data"
SAMPLE = DATA / "monitoring_sample.yaml"
UPDATE_CSV = Path(__file__).resolve().parents[1] / "data" / "monitoring_update.csv"
IMPORTED_ON = date(2026, 3, 2)
BOT_USERNAME = "psm_test_bot"
# Never on a page: contributions are only counted.
PRIVATE_TEXT = "Testo privato di una cittadina, mai pubblicato"
ACTION_CONTRIBUTIONS = 7  # about S2.1: shown as a number
ZONE_CONTRIBUTIONS = 2  # about Tigullio: below the threshold, "meno di 5"

# One page of each type, with something to show after the imports below.
PAGE_TYPES = {
    "home": "/",
    "strategy": "/strategie/S2/",
    "zone": "/zone/tigullio/",
    "action": "/azioni/S2.1/",
    "events": "/eventi/",
    "dati": "/dati/",
}


# --- the data and the server ----------------------------------------------------------------


async def import_monitoring(db: Database) -> None:
    """The sample, then the CSV that changes statuses, progress and measurements."""
    for path in (SAMPLE, UPDATE_CSV):
        async with db.transaction() as session:
            await monitoring.import_records(session, read_file(path), today=IMPORTED_ON)


async def create_events(db: Database, now: datetime) -> None:
    async with db.transaction() as session:
        lavagna = await session.scalar(select(Comune.istat).where(Comune.name == "Lavagna"))
        drafts = [
            EventDraft(
                title_it="Incontro sul Parco del Tigullio",
                title_en="Meeting on the Tigullio Park",
                starts_at=(now + timedelta(days=12)).replace(microsecond=0),
                ends_at=(now + timedelta(days=12, hours=2)).replace(microsecond=0),
                place="Sala consiliare",
                comune_istat=lavagna,
                zones=("tigullio",),
                strategies=("S4",),
            ),
            EventDraft(
                title_it="Revisione annuale del Piano",
                title_en="Annual review of the Plan",
                starts_at=(now - timedelta(days=20)).replace(microsecond=0),
                online_url="https://meet.example.org/psm",
                strategies=("S1",),
            ),
        ]
        for draft in drafts:
            await events.create(session, draft, now, announce=False)


async def record_contributions(db: Database, now: datetime) -> None:
    async with db.transaction() as session:
        about_action = await subjects.chosen(session, "action", "S2.1")
        about_zone = await subjects.chosen(session, "zone", "tigullio")
        for number, subject in enumerate(
            [about_action] * ACTION_CONTRIBUTIONS + [about_zone] * ZONE_CONTRIBUTIONS
        ):
            await participation.add_entry(
                session,
                kind=EntryKind.FEEDBACK,
                subject=subject,
                participant=None,
                language="it",
                now=now - timedelta(days=5 * number),
                text=CappedText(PRIVATE_TEXT, False),
            )


def bots_web_server(db: Database) -> WebServer:
    """The bot's HTTP server with the public pages, as `run` composes it."""
    return WebServer(
        health=HealthCheck(db),
        metrics=Metrics(),
        site=SiteServer(db, SiteOptions(bot_username=BOT_USERNAME)),
    )


@pytest.fixture
async def site(db: Database, database_url: str) -> AsyncIterator[ServerThread]:
    now = datetime.now(UTC)
    await import_monitoring(db)
    await create_events(db, now)
    await record_contributions(db, now)
    with ServerThread(database_url, bots_web_server) as server:
        yield server


# --- reading a page -------------------------------------------------------------------------


def open_page(driver: WebDriver, url: str) -> list[str]:
    """Loads the page (which must answer 200) and returns every URL it asked for."""
    network_log(driver)
    driver.get(url)
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    log = network_log(driver)
    assert log.statuses.get(url) == 200, f"{url} answered {log.statuses.get(url)}"
    return log.requested


def text_of(driver: WebDriver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text.strip()


def figures(driver: WebDriver) -> dict[str, str]:
    """The page's key figures (`ul.figures`): label → value as shown."""
    shown = {}
    for item in driver.find_elements(By.CSS_SELECTOR, "ul.figures li"):
        value = item.find_element(By.TAG_NAME, "strong").text.strip()
        label = item.text.strip().removeprefix(value).strip()
        shown[label] = value
    return shown


def table_rows(table) -> dict[str, str]:
    """A two-column table (row header, value) as a dict."""
    rows = {}
    for row in table.find_elements(By.CSS_SELECTOR, "tbody tr"):
        header = row.find_element(By.TAG_NAME, "th").text.strip()
        rows[header] = row.find_element(By.TAG_NAME, "td").text.strip()
    return rows


def table_with_caption(driver: WebDriver, caption: str):
    for table in driver.find_elements(By.TAG_NAME, "table"):
        if table.find_element(By.TAG_NAME, "caption").text.strip() == caption:
            return table
    raise AssertionError(f"no table captioned {caption!r} on {driver.current_url}")


def italian(message: str) -> str:
    with use_locale("it"):
        return _(message)


def percent_it(value: float) -> str:
    return format_percent(round(value) / 100, locale="it")


def download(url: str) -> tuple[int, str, str]:
    """Status, type and text at `url`, downloaded outside the browser: the pages' Content
    Security Policy rightly forbids their scripts to fetch anything."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.status, answer.headers["Content-Type"], answer.read().decode("utf-8")


async def scalar(db: Database, query) -> Any:
    async with db.transaction() as session:
        return await session.scalar(query)


async def rows(db: Database, query) -> list[Any]:
    async with db.transaction() as session:
        return list((await session.execute(query)).all())


# --- what the pages show --------------------------------------------------------------------


async def test_home_page_lists_every_strategy(db, site, desktop, screenshot):
    open_page(desktop, site.url("/"))
    assert desktop.execute_script("return document.documentElement.lang") == "it"
    assert "Il Piano in cifre" in desktop.title
    assert text_of(desktop, "h1") == "Il Piano in cifre"
    assert len(desktop.find_elements(By.TAG_NAME, "h1")) == 1
    strategies = await rows(
        db, select(Strategy.id, Strategy.name_it, Strategy.uncertain).order_by(Strategy.position)
    )
    table = table_with_caption(desktop, italian("Actions of each strategy by status"))
    links = {
        link.get_attribute("href"): link.text
        for link in table.find_elements(By.CSS_SELECTOR, "tbody th a")
    }
    assert list(links) == [site.url(f"/strategie/{sid}/") for sid, *_rest in strategies]
    for (_sid, name, uncertain), shown in zip(strategies, links.values(), strict=True):
        if not uncertain:  # an unconfirmed title is not shown as if it were
            assert name.casefold() in shown.casefold()
    actions = await scalar(db, select(func.count()).select_from(PlanAction))
    assert figures(desktop)[italian("actions monitored")] == str(actions)


async def test_strategy_page_shows_the_average_progress_of_its_actions(
    db, site, desktop, screenshot
):
    progress = await rows(
        db, select(PlanAction.code, PlanAction.progress_pct).where(PlanAction.strategy_id == "S2")
    )
    open_page(desktop, site.url("/strategie/S2/"))
    shown = figures(desktop)
    assert shown[italian("actions")] == str(len(progress))
    average = sum(pct for _code, pct in progress) / len(progress)
    assert shown[italian("average progress")] == percent_it(average)
    table = table_with_caption(desktop, italian("Actions of the strategy"))
    listed = table.text
    for code, pct in progress:
        assert code in listed and percent_it(pct) in listed


async def test_action_page_shows_status_progress_and_last_measurement(
    db, site, desktop, screenshot
):
    action = await scalar(db, select(PlanAction).where(PlanAction.code == "S2.1"))
    indicator = await scalar(db, select(Indicator).where(Indicator.action_code == "S2.1"))
    last = await scalar(
        db,
        select(Measurement)
        .where(Measurement.indicator_id == indicator.id)
        .order_by(Measurement.period.desc())
        .limit(1),
    )
    assert (action.status, action.progress_pct, last.period) == ("in_progress", 75, "2025")
    open_page(desktop, site.url("/azioni/S2.1/"))
    assert action.title_it in text_of(desktop, "h1")
    brief = table_rows(table_with_caption(desktop, italian("The action in brief")))
    assert brief[italian("Status")] == italian("in progress")
    assert brief[italian("Progress")] == percent_it(action.progress_pct)
    series = table_with_caption(
        desktop, italian("{indicator}: every measurement").format(indicator=indicator.name_it)
    )
    *_earlier, (period, value) = table_rows(series).items()
    assert period == last.period
    assert value.startswith(format_decimal(last.value, locale="it"))
    contributions = italian("Contributions from citizens about this action: {count}.")
    assert contributions.format(count=ACTION_CONTRIBUTIONS) in desktop.page_source
    assert PRIVATE_TEXT not in desktop.page_source
    qr = desktop.find_element(By.CSS_SELECTOR, ".qr img")
    assert desktop.execute_script("return arguments[0].naturalWidth", qr) > 0


async def test_action_page_tells_its_status_change_from_the_import(db, site, desktop, screenshot):
    """S4.1 went from in progress to delayed with the CSV update: its history says so."""
    assert await scalar(db, select(PlanAction.status).where(PlanAction.code == "S4.1")) == (
        "delayed"
    )
    open_page(desktop, site.url("/azioni/S4.1/"))
    brief = table_rows(table_with_caption(desktop, italian("The action in brief")))
    assert brief[italian("Status")] == italian("delayed")
    changed = italian("Status changed from {old} to {new}.").format(
        old=italian("in progress"), new=italian("delayed")
    )
    assert changed in desktop.find_element(By.TAG_NAME, "main").text


async def test_zone_page_lists_its_comuni_and_hides_small_counts(db, site, desktop, screenshot):
    comuni = await rows(db, select(Comune.name).where(Comune.zone_id == "tigullio"))
    open_page(desktop, site.url("/zone/tigullio/"))
    main = desktop.find_element(By.TAG_NAME, "main").text
    for (name,) in comuni:
        assert name in main
    fewer = italian("fewer than {count}").format(count=5)
    assert figures(desktop)[italian("contributions from citizens")] == fewer


async def test_events_page_lists_upcoming_and_past_events(db, site, desktop, screenshot):
    open_page(desktop, site.url("/eventi/"))
    main = desktop.find_element(By.TAG_NAME, "main").text
    titles = await rows(db, select(Event.title_it, Event.starts_at).order_by(Event.starts_at))
    past, upcoming = titles[0][0], titles[1][0]
    assert main.index(upcoming) < main.index(italian("Past events")) < main.index(past)


# --- language and keyboard ------------------------------------------------------------------


async def test_the_language_switch_opens_the_same_page_in_english(db, site, desktop, screenshot):
    title_en = await scalar(db, select(PlanAction.title_en).where(PlanAction.code == "S2.1"))
    open_page(desktop, site.url("/azioni/S2.1/"))
    desktop.find_element(By.CSS_SELECTOR, "header a[hreflang='en']").click()
    WebDriverWait(desktop, 10).until(
        lambda d: d.execute_script("return document.documentElement.lang") == "en"
    )
    assert desktop.current_url == site.url("/en/azioni/S2.1/")
    assert title_en in text_of(desktop, "h1")
    assert "The Plan in figures" in desktop.title
    desktop.find_element(By.CSS_SELECTOR, "header a[hreflang='it']").click()
    WebDriverWait(desktop, 10).until(
        lambda d: d.execute_script("return document.documentElement.lang") == "it"
    )
    assert desktop.current_url == site.url("/azioni/S2.1/")


def active_element(driver: WebDriver):
    return driver.switch_to.active_element


async def test_tab_reaches_the_skip_link_first_and_it_moves_focus_to_main(
    site, desktop, screenshot
):
    open_page(desktop, site.url("/strategie/S2/"))
    desktop.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    skip = active_element(desktop)
    assert skip.get_attribute("href") == site.url("/strategie/S2/#main")
    assert skip.text == italian("Skip to content")
    left = desktop.execute_script("return arguments[0].getBoundingClientRect().left", skip)
    assert left >= 0, "the skip link stays off screen when it has the focus"
    screenshot("skip-link-focused")
    skip.send_keys(Keys.ENTER)
    WebDriverWait(desktop, 5).until(lambda d: active_element(d).get_attribute("id") == "main")
    active_element(desktop).send_keys(Keys.TAB)
    inside_main = desktop.execute_script(
        "return document.getElementById('main').contains(document.activeElement)"
    )
    assert inside_main, "after the skip link, Tab goes on inside the content"


# --- open data ------------------------------------------------------------------------------


def parsed(name: str, text: str) -> Any:
    if name.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(text, newline="")))
    if name.endswith(".json"):
        return json.loads(text)
    if name.endswith(".ics"):
        return icalendar.Calendar.from_ical(text)
    if name.endswith(".atom"):
        return ElementTree.fromstring(text)
    raise AssertionError(f"a file of a kind nobody parses: {name}")


async def test_open_data_files_linked_from_dati_parse_and_match_the_database(
    db, site, desktop, screenshot
):
    open_page(desktop, site.url("/dati/"))
    links = [
        (link.text, link.get_attribute("href"))
        for link in desktop.find_elements(By.CSS_SELECTOR, "main table a")
    ]
    assert {"actions.csv", "measurements.csv", "events.ics", "changes.atom"} <= {
        name for name, _href in links
    }
    files = {}
    for name, href in links:
        assert href.startswith(site.origin + "/dati/"), href
        status, _type, text = download(href)
        assert status == 200, f"{name}: {status}"
        files[name] = parsed(name, text)

    actions = await rows(db, select(PlanAction.code, PlanAction.status, PlanAction.progress_pct))
    expected = {code: (status, str(pct)) for code, status, pct in actions}
    assert {r["code"]: (r["status"], r["progress_pct"]) for r in files["actions.csv"]} == expected
    assert {
        r["code"]: (r["status"], str(r["progress_pct"])) for r in files["actions.json"]["rows"]
    } == expected

    measured = await rows(
        db,
        select(Indicator.action_code, Indicator.code, Measurement.period, Measurement.value).join(
            Measurement, Measurement.indicator_id == Indicator.id
        ),
    )
    assert sorted(
        (r["action_code"], r["indicator_code"], r["period"], float(r["value"]))
        for r in files["measurements.csv"]
    ) == sorted(tuple(row) for row in measured)

    uids = set(await db_uids(db))
    calendar = files["events.ics"]
    assert {str(event["UID"]) for event in calendar.walk("VEVENT")} == uids
    tigullio = files["events-zone-tigullio.ics"]
    assert [str(event["SUMMARY"]) for event in tigullio.walk("VEVENT")] == [
        "Incontro sul Parco del Tigullio"
    ]

    monitoring_changes = await scalar(
        db,
        select(func.count())
        .select_from(Notification)
        .where(Notification.kind == NotificationKind.MONITORING.value),
    )
    entries = files["changes.atom"].findall("{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == min(monitoring_changes, 50) > 0

    participation_rows = {(r["dimension"], r["key"]): r for r in files["participation.csv"]}
    total = participation_rows[("total", "")]
    assert total["count"] == str(ACTION_CONTRIBUTIONS + ZONE_CONTRIBUTIONS)
    assert participation_rows[("zone", "tigullio")]["count"] == ""
    assert participation_rows[("zone", "tigullio")]["fewer_than_5"] == "true"
    assert all(PRIVATE_TEXT not in json.dumps(files[name], default=str) for name in files)


async def db_uids(db: Database) -> list[str]:
    return [uid for (uid,) in await rows(db, select(Event.uid))]


# --- every page type: self-contained, accessible, usable on a phone -------------------------


@pytest.mark.parametrize("page_type", PAGE_TYPES)
async def test_each_page_type_loads_nothing_from_other_sites(page_type, site, desktop, screenshot):
    requested = open_page(desktop, site.url(PAGE_TYPES[page_type]))
    assert requested and all(url.startswith(site.origin + "/") for url in requested), requested
    assert len(desktop.find_elements(By.TAG_NAME, "h1")) == 1


@pytest.mark.parametrize("language", ["it", "en"])
@pytest.mark.parametrize("page_type", PAGE_TYPES)
async def test_axe_finds_no_serious_or_critical_violation(
    page_type, language, site, desktop, screenshot
):
    path = PAGE_TYPES[page_type]
    open_page(desktop, site.url(path if language == "it" else "/en" + path))
    violations = serious_violations(desktop)
    assert violations == [], describe_violations(violations)


# The innermost elements that stick out of a page `arguments[0]` CSS pixels wide, not counting
# those inside a box that scrolls sideways on its own (a wide table in its region).
STICKING_OUT = """
const width = arguments[0];
function scrollsItself(element) {
    for (let box = element.parentElement; box; box = box.parentElement) {
        if (['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) return true;
    }
    return false;
}
return [...document.body.querySelectorAll('*')]
    .filter((e) => e.children.length === 0)
    .filter((e) => e.getBoundingClientRect().right > width + 0.5 && !scrollsItself(e))
    .map((e) => `${e.tagName.toLowerCase()} (${Math.round(e.getBoundingClientRect().right)} px):`
        + ` ${e.textContent.trim().slice(0, 50)}`)
    .slice(0, 5);
"""


async def test_the_axe_scan_works_under_the_pages_security_policy(site, desktop):
    """A page element without its text alternative, planted in a served page, is found: the
    scan above is not vacuous (axe runs despite the pages' Content Security Policy)."""
    open_page(desktop, site.url("/"))
    desktop.execute_script(
        "const image = document.createElement('img');"
        "image.src = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';"
        "document.getElementById('main').append(image);"
    )
    assert [violation["id"] for violation in serious_violations(desktop)] == ["image-alt"]


@pytest.mark.parametrize("page_type", PAGE_TYPES)
async def test_no_sideways_scrolling_on_a_phone(page_type, site, phone, screenshot):
    open_page(phone, site.url(PAGE_TYPES[page_type]))
    viewport = phone.execute_script(
        "return document.querySelector('meta[name=viewport]').getAttribute('content')"
    )
    assert "width=device-width" in viewport
    scroll_width = phone.execute_script("return document.documentElement.scrollWidth")
    assert scroll_width <= PHONE[0], phone.execute_script(STICKING_OUT, PHONE[0])
    violations = serious_violations(phone)
    assert violations == [], describe_violations(violations)


def test_the_browser_reaches_nothing_but_this_machine(desktop):
    """The proxy that is not there: an address elsewhere fails before leaving the browser."""
    desktop.get("data:text/html,<img src='http://example.org/x.png' alt=''>")
    failures: dict[str, str] = {}

    def failed(driver: WebDriver) -> dict[str, str]:
        failures.update(network_log(driver).failed)
        return failures

    WebDriverWait(desktop, 10).until(failed)
    assert failures == {"http://example.org/x.png": "net::ERR_PROXY_CONNECTION_FAILED"}
