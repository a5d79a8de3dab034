"""The public pages "Il Piano in cifre", read over HTTP from the bot's own aiohttp server."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
import yaml
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po

from bot.db.models import EntryKind, Event, Participant
from bot.i18n import po_path
from bot.metrics import Metrics
from bot.runtime import Deployment, run_until_signalled
from bot.services import monitoring, participation, record, subjects, subscriptions
from bot.services.monitoring_sources import read_file
from bot.site.layout import PageKind, PageRef, SiteOptions
from bot.site.pages import render
from bot.site.server import SiteServer
from bot.web import HealthCheck, WebServer
from tests.conftest import compose_against

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "bot" / "data" / "monitoring_sample.yaml"
UPDATE_CSV = ROOT / "tests" / "data" / "monitoring_update.csv"
TODAY = date(2026, 3, 2)
BOT = "psm_test_bot"
MAX_PAGE_BYTES = 100 * 1024


# --- reading a page -------------------------------------------------------------------------


class Page(HTMLParser):
    """What a reader (or a screen reader) finds in a page: texts, tables by caption, links."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.texts: list[str] = []
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._skip = 0
        self._caption: list[str] | None = None
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._captions: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self.attributes.append((tag, dict(attrs)))
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "table":
            self._table = []
        elif tag == "caption":
            self._caption = []
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1
        elif tag == "caption" and self._caption is not None:
            self._captions.append(" ".join("".join(self._caption).split()))
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._table is not None:
            caption = self._captions[-1] if self._captions else ""
            self.tables[caption] = [row for row in self._table if row]
            self._table = None

    def handle_data(self, data):
        if self._skip:
            return
        for target in (self._caption, self._cell):
            if target is not None:
                target.append(data)
        if data.strip():
            self.texts.append(" ".join(data.split()))

    @property
    def text(self) -> str:
        return " ".join(self.texts)

    def table(self, caption: str) -> dict[str, list[str]]:
        """The rows of the table with this caption, by their first cell."""
        return {row[0]: row[1:] for row in self.tables[caption][1:]}

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.attributes if name == tag]


# --- the server and the data ----------------------------------------------------------------


@pytest.fixture
async def pages(db):
    """The bot's HTTP server with the public pages, rendered afresh for every request."""
    server = WebServer(
        health=HealthCheck(db),
        metrics=Metrics(),
        site=SiteServer(db, SiteOptions(bot_username=BOT), cache_seconds=0),
    )
    await server.start("127.0.0.1", 0)
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as client:
        yield client
    await server.stop()


async def get(client: aiohttp.ClientSession, path: str, status: int = 200) -> Page:
    async with client.get(path, allow_redirects=False) as response:
        body = await response.read()
        assert response.status == status, (path, response.status)
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert len(body) < MAX_PAGE_BYTES, (path, len(body))
        return Page(body.decode())


async def import_monitoring(db, path: Path = SAMPLE, today: date = TODAY):
    """Through the same service as `python -m bot monitoring import` (changes notified)."""
    async with db.transaction() as session:
        return await monitoring.import_records(session, read_file(path), today=today)


def sample_actions() -> list[dict]:
    return yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))["actions"]


def percent(value: float) -> str:
    return f"{round(value)}%"


ITALIAN_STATUS = {
    "planned": "pianificata",
    "in_progress": "in corso",
    "delayed": "in ritardo",
    "completed": "completata",
    "suspended": "sospesa",
}


async def contribute(db, action_code: str, count: int, *, text: str | None = None) -> list[str]:
    """`count` feedback entries about an action, as /feedback records them; their references."""
    references = []
    async with db.transaction() as session:
        subject = await subjects.chosen(session, "action", action_code)
        for number in range(count):
            subscriber, _ = await subscriptions.get_or_create_subscriber(
                session,
                telegram_user_id=7000 + number,
                chat_id=7000 + number,
                first_name="Anna",
                language="it",
            )
            person = await participation.participant_of(session, subscriber)
            participation.set_consent(person, True, datetime.now(UTC))
            entry = await participation.add_entry(
                session,
                kind=EntryKind.FEEDBACK,
                subject=subject,
                participant=person,
                language="it",
                now=datetime.now(UTC),
                text=participation.cap_text(text) if text else None,
            )
            references.append(entry.reference)
    return references


# --- what the pages show --------------------------------------------------------------------


async def test_the_home_page_shows_each_strategy_by_status_and_progress_after_an_import(db, pages):
    await import_monitoring(db)
    page = await get(pages, "/")
    actions = sample_actions()

    assert page.all("html")[0]["lang"] == "it"
    assert page.tags["h1"] == 1 and "Il Piano in cifre" in page.text
    strategies = page.table("Azioni di ciascuna strategia per stato")
    for strategy_id in ("S1", "S2", "S3", "S4"):
        mine = [a for a in actions if a["strategy"] == strategy_id]
        (row,) = [cells for name, cells in strategies.items() if name.startswith(strategy_id)]
        statuses = Counter(a["status"] for a in mine)
        assert row == [
            str(len(mine)),
            *(str(statuses[s]) for s in ITALIAN_STATUS),
            percent(sum(a["progress"] for a in mine) / len(mine)),
        ]
    figures = page.table("Avanzamento medio per strategia")
    assert figures["S4 · Adattarci ai cambiamenti climatici"] == [
        percent(sum(a["progress"] for a in actions if a["strategy"] == "S4") / 3)
    ]
    assert "Strategia 5 — titolo da confermare" in strategies
    assert f"{len(actions)} azioni monitorate" in page.text
    assert "Dati di esempio, solo a scopo dimostrativo." in page.text
    # The latest changes are the import's: the annual review and the last new actions.
    assert "È stata pubblicata la revisione annuale 2024 del Piano" in page.text
    assert "S5.1 · Data Lab: sistema di monitoraggio integrato" in page.text


async def test_a_strategy_page_and_an_action_page_show_the_right_figures(db, pages):
    await import_monitoring(db)
    strategy = await get(pages, "/strategie/S4/")
    listed = strategy.table("Azioni della strategia")
    for action in (a for a in sample_actions() if a["strategy"] == "S4"):
        row = listed[action["code"]]
        assert row[0].startswith(action["title_it"])
        assert row[1:3] == [ITALIAN_STATUS[action["status"]], percent(action["progress"])]

    await import_monitoring(db, UPDATE_CSV, today=TODAY + timedelta(days=30))
    page = await get(pages, "/azioni/S4.1/")
    facts = page.table("L'azione in breve")
    assert facts["Stato"] == ["in ritardo"] and facts["Avanzamento"] == ["55%"]
    assert facts["Fine prevista"] == ["30 giugno 2026"]
    assert "Lo stato è passato da «in corso» a «in ritardo»." in page.text
    (indicator,) = next(a for a in sample_actions() if a["code"] == "S4.1")["indicators"]
    series = page.table(f"{indicator['name_it']}: tutte le misurazioni")
    expected = {str(m["period"]): m["value"] for m in indicator["measurements"]} | {"2025": 31000}
    assert {period: cells[0] for period, cells in series.items()} == {
        period: f"{value:,}".replace(",", ".") + " m²" for period, value in expected.items()
    }
    assert "Valore di partenza 0 m² nel 2021 → obiettivo 30.000 m² entro il 2025" in page.text
    svg = page.all("svg")[0]
    assert svg["role"] == "img" and svg["aria-labelledby"]


async def test_counts_below_five_read_fewer_than_five(db, pages):
    await import_monitoring(db)
    await contribute(db, "S4.1", 4)
    assert (
        "Contributi dei cittadini su questa azione: meno di 5."
        in (await get(pages, "/azioni/S4.1/")).text
    )
    english = await get(pages, "/en/azioni/S4.1/")
    assert "Contributions from citizens about this action: fewer than 5." in english.text
    home = await get(pages, "/")
    assert home.table("Contributi per tipo")["Totale"] == ["meno di 5"]
    assert home.table("Contributi per zona")["Entella (*)"] == ["meno di 5"]

    await contribute(db, "S4.1", 1)
    assert (
        "Contributi dei cittadini su questa azione: 5." in (await get(pages, "/azioni/S4.1/")).text
    )
    home = await get(pages, "/")
    assert home.table("Contributi per tipo")["Pareri sul Piano"] == ["5"]
    assert home.table("Contributi per zona")["Entella (*)"] == ["5"]
    assert home.table("Contributi per zona")["Genova"] == ["meno di 5"]


async def record_entries(
    db,
    count: int,
    *,
    kind: EntryKind = EntryKind.FEEDBACK,
    about: tuple[str, str] | None = None,
    at: datetime | None = None,
) -> None:
    """`count` entries kept without a participant (as without consent), about a chosen subject."""
    async with db.transaction() as session:
        subject = await subjects.chosen(session, *about) if about else None
        for _ in range(count):
            await participation.add_entry(
                session,
                kind=kind,
                subject=subject,
                participant=None,
                language="it",
                now=at or datetime.now(UTC),
            )


def figure(page: Page, label: str) -> str:
    """The value of one of the page's figures (the number above its label)."""
    return page.texts[page.texts.index(label) - 1]


async def test_a_count_below_five_cannot_be_worked_out_from_the_total(db, pages):
    await import_monitoring(db)
    await record_entries(db, 7, about=("action", "S4.1"))
    await record_entries(db, 2, kind=EntryKind.FREE)
    home = await get(pages, "/")
    # Total 9 and feedback 7 would give the other messages away: 2. Both are withheld.
    assert home.table("Contributi per tipo") == {
        "Pareri sul Piano": ["non indicato"],
        "Altri messaggi": ["non indicato"],
        "Totale": ["9"],
    }
    assert "“non indicato”" in home.text  # the privacy note says why
    english = await get(pages, "/en/")
    assert english.table("Contributions by kind")["Other messages"] == ["not shown"]
    assert "“not shown”" in english.text


async def test_two_counts_below_five_are_not_withheld_further(db, pages):
    await import_monitoring(db)
    await record_entries(db, 7, about=("action", "S4.1"))
    await record_entries(db, 2, kind=EntryKind.FREE)
    await record_entries(db, 1, kind=EntryKind.RSVP)
    home = await get(pages, "/")
    assert home.table("Contributi per tipo") == {
        "Pareri sul Piano": ["7"],
        "Altri messaggi": ["meno di 5"],
        "Risposte agli eventi": ["meno di 5"],
        "Totale": ["10"],
    }


async def test_a_page_withholds_the_count_its_table_withholds(db, pages):
    await import_monitoring(db)
    for strategy_id, count in (("S1", 5), ("S2", 6), ("S3", 7), ("S4", 8), ("S5", 2)):
        await record_entries(db, count, about=("strategy", strategy_id))
    # The five strategy pages and the total would give S5's 2 away: S1's 5 is withheld too.
    shown = {
        strategy_id: figure(
            await get(pages, f"/strategie/{strategy_id}/"), "contributi dei cittadini"
        )
        for strategy_id in ("S1", "S2", "S3", "S4", "S5")
    }
    assert shown == {
        "S1": "non indicato",
        "S2": "6",
        "S3": "7",
        "S4": "8",
        "S5": "non indicato",
    }


async def test_a_month_below_five_cannot_be_worked_out_from_the_total(db):
    await import_monitoring(db)
    march = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    await record_entries(db, 2, at=datetime(2026, 2, 10, 9, 0, tzinfo=UTC))
    await record_entries(db, 7, at=march)
    rendered = await render(db, PageRef(PageKind.HOME), SiteOptions(), now=march)
    assert rendered is not None
    home = Page(rendered.body.decode())
    months = home.table("Contributi per mese")
    assert months == {"feb 2026": ["non indicato"], "mar 2026": ["non indicato"]}
    # Under the columns of the chart too: no "<5" under February, a dash under both.
    assert "&lt;5" not in home.html and home.html.count(">–</text>") == 2


async def test_counts_that_can_only_be_four_each_are_withheld_with_another(db, pages):
    await import_monitoring(db)
    await record_entries(db, 7, about=("action", "S4.1"))
    await record_entries(db, 4, kind=EntryKind.FREE)
    await record_entries(db, 4, kind=EntryKind.RSVP)
    # Total 15 and feedback 7: the other two together 8, so each of them 4.
    kinds = (await get(pages, "/")).table("Contributi per tipo")
    assert kinds == {
        "Pareri sul Piano": ["non indicato"],
        "Altri messaggi": ["non indicato"],
        "Risposte agli eventi": ["non indicato"],
        "Totale": ["15"],
    }


async def test_published_contributions_show_their_text_and_answer_never_their_author(db, pages):
    await import_monitoring(db)
    (reference,) = await contribute(db, "S4.1", 1, text="Più ombra nel parco, per favore")
    async with db.transaction() as session:
        await record.publish(
            session, reference, staff_id=1, now=datetime.now(UTC), answer="Previsti 40 alberi."
        )
        entry = await record.find_entry(session, reference)
        author = await session.get(Participant, entry.participant_id)
    page = await get(pages, "/azioni/S4.1/")
    assert "Più ombra nel parco, per favore" in page.text and "Previsti 40 alberi." in page.text
    assert reference in page.text
    assert author.pseudonym not in page.html
    assert "Più ombra nel parco" in (await get(pages, "/")).text


async def test_sample_and_uncertain_data_are_labelled(db, pages):
    await import_monitoring(db)
    action = await get(pages, "/azioni/S1.2/")
    assert "Dati di esempio" in action.texts and "Dati di esempio, solo a scopo dimostrativo." in (
        action.texts
    )
    zone = await get(pages, "/zone/entella/")
    assert zone.all("h1") and "Entella (*)" in zone.texts
    assert "Carasco (*)" in zone.texts
    assert "(*) l'elenco dei comuni di questa zona non è ancora confermato" in zone.texts
    strategy = await get(pages, "/strategie/S5/")
    assert "Strategia 5 — titolo da confermare" in strategy.texts and "da confermare" in (
        strategy.texts
    )
    english = await get(pages, "/en/zone/entella/")
    assert "Sample data, for demonstration only." in english.texts


async def test_the_events_page_has_upcoming_and_past_events_in_rome_time(db, pages):
    now = datetime.now(UTC)
    async with db.transaction() as session:
        session.add_all(
            [
                Event(
                    uid="past@test",
                    title_it="Expo della Valle Scrivia",
                    starts_at=now - timedelta(days=40),
                    zones=["valli_polcevera_scrivia"],
                ),
                Event(
                    uid="next@test",
                    title_it="Incontro sul Tigullio",
                    title_en="Tigullio meeting",
                    starts_at=datetime(now.year + 1, 7, 1, 15, 30, tzinfo=UTC),
                    zones=["tigullio"],
                    comune_istat="010046",
                ),
            ]
        )
    page = await get(pages, "/eventi/")
    upcoming, past = page.text.split("Eventi passati")
    assert "Incontro sul Tigullio" in upcoming and "Expo della Valle Scrivia" in past
    assert f"1 luglio {now.year + 1}, 17:30" in upcoming  # summer time in Rome: UTC+2
    english = await get(pages, "/en/eventi/")
    assert f"July 1, {now.year + 1}, 5:30" in english.text and "Tigullio meeting" in english.text
    # Without an English title, the Italian one is shown and marked as Italian.
    assert any(attrs.get("lang") == "it" for attrs in english.all("span"))
    home = await get(pages, "/")
    assert "Incontro sul Tigullio" in home.text and "Expo della Valle Scrivia" not in home.text
    tigullio = await get(pages, "/zone/tigullio/")
    assert "Incontro sul Tigullio" in tigullio.text


# --- languages and accessibility ------------------------------------------------------------


def _site_catalog_strings() -> list[tuple[str, str]]:
    """(English, Italian) of every message the pages use, without placeholders."""
    keywords = {"_": None, "N_": None}
    found = [m for _f, _l, m, _c, _x in extract_from_dir(ROOT / "bot" / "site", keywords=keywords)]
    for module in ("site.py", "plan.py"):
        path = ROOT / "bot" / "services" / module
        found += [m for _l, m, _c, _x in extract_from_file("python", path, keywords=keywords)]
    ids = {message for message in found if isinstance(message, str) and "{" not in message}
    with po_path("it").open("rb") as file:
        italian = {m.id: m.string for m in read_po(file) if isinstance(m.id, str)}
    return [(message, italian[message]) for message in sorted(ids) if italian.get(message)]


PAGES = ["/", "/strategie/S4/", "/zone/entella/", "/azioni/S4.1/", "/eventi/", "/dati/"]


@pytest.mark.parametrize("path", PAGES)
async def test_english_and_italian_pages_have_no_string_of_the_other_language(db, pages, path):
    await import_monitoring(db)
    strings = _site_catalog_strings()
    english_words = {english for english, _italian in strings}
    italian_words = {italian for _english, italian in strings}
    only_english = english_words - italian_words
    only_italian = italian_words - english_words
    italian_page = await get(pages, path)
    english_page = await get(pages, "/en" + path)
    assert not only_english & set(italian_page.texts)
    assert not only_italian & set(english_page.texts)
    assert italian_page.all("html")[0]["lang"] == "it"
    assert english_page.all("html")[0]["lang"] == "en"


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_is_one_accessible_document(db, pages, path):
    await import_monitoring(db)
    for language_path, other in ((path, "en"), ("/en" + path, "it")):
        page = await get(pages, language_path)
        assert page.tags["h1"] == 1 and page.tags["main"] == 1
        assert page.all("main")[0]["id"] == "main"
        assert page.all("a")[0] == {"class": "skip", "href": "#main"}
        assert page.all("meta")[1]["name"] == "viewport"
        (switch,) = [a for a in page.all("a") if a.get("hreflang") == other]
        assert switch["lang"] == other
        assert page.tags["table"] == page.tags["caption"]
        for svg in page.all("svg"):
            assert svg["role"] == "img"
        assert page.tags["title"] == 1 + page.tags["svg"]  # the page's and one per chart
        links = [a.get("href") or "" for a in page.all("a")] + [
            img.get("src") or "" for img in page.all("img")
        ]
        outside = [href for href in links if re.match(r"[a-z]+:", href)]
        assert all(
            href.startswith(("https://t.me/", "https://pianostrategico.")) for href in outside
        )
        assert "<script" not in page.html and 'rel="stylesheet"' not in page.html


async def test_the_language_switch_leads_to_the_same_page_in_the_other_language(db, pages):
    await import_monitoring(db)
    italian = await get(pages, "/azioni/S4.1/")
    (switch,) = [a for a in italian.all("a") if a.get("hreflang") == "en"]
    assert switch["href"] == "../../en/azioni/S4.1/"
    english = await get(pages, "/en/azioni/S4.1/")
    assert english.all("h1") and "S4.1 · Tigullio Park: a sustainable urban space model" in (
        english.texts
    )
    (back,) = [a for a in english.all("a") if a.get("hreflang") == "it"]
    assert back["href"] == "../../../azioni/S4.1/"


# --- HTTP -----------------------------------------------------------------------------------


async def test_pages_carry_a_strong_etag_and_answer_304_when_it_matches(db, pages):
    await import_monitoring(db)
    async with pages.get("/strategie/S4/") as response:
        assert response.status == 200
        etag = response.headers["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        assert response.headers["Cache-Control"].startswith("public, max-age=")
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    async with pages.get("/strategie/S4/", headers={"If-None-Match": etag}) as response:
        assert response.status == 304 and await response.read() == b""
        assert response.headers["ETag"] == etag
    async with pages.get("/strategie/S4/", headers={"If-None-Match": '"other"'}) as response:
        assert response.status == 200
    await import_monitoring(db, UPDATE_CSV, today=TODAY + timedelta(days=30))
    async with pages.get("/strategie/S4/", headers={"If-None-Match": etag}) as response:
        assert response.status == 200 and response.headers["ETag"] != etag


async def test_an_unknown_code_is_a_404_page(db, pages):
    await import_monitoring(db)
    page = await get(pages, "/azioni/S9.9/", status=404)
    assert page.all("html")[0]["lang"] == "it" and "Pagina non trovata" in page.texts
    assert [a["href"] for a in page.all("a") if a.get("hreflang")] == ["../../en/"]
    english = await get(pages, "/en/zone/atlantide/", status=404)
    assert "Page not found" in english.texts
    assert (await get(pages, "/da/nessuna/parte", status=404)).tags["h1"] == 1
    async with pages.get("/azioni/S9.9/qr.svg") as response:
        assert response.status == 404
    async with pages.get("/strategie/S1", allow_redirects=False) as response:
        assert response.status == 301 and response.headers["Location"] == "/strategie/S1/"
    async with pages.get("/healthz") as response:
        assert response.status == 200  # the bot's own routes come first


async def test_the_action_page_links_back_to_the_bot_with_a_qr_code(db, pages):
    await import_monitoring(db)
    page = await get(pages, "/azioni/S4.1/")
    deep_link = f"https://t.me/{BOT}?start=action_S4-1"
    assert deep_link in [a.get("href") for a in page.all("a")]
    (image,) = page.all("img")
    assert image["src"] == "qr.svg" and image["alt"]
    async with pages.get("/azioni/S4.1/qr.svg") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        svg = await response.text()
    assert 'role="img"' in svg and "<title>" in svg and deep_link in svg


async def test_the_open_data_index_and_files_are_served(db, pages):
    await import_monitoring(db)
    index = await get(pages, "/dati/")
    files = index.table("File")
    assert "actions.csv" in files and "events.ics" in files
    async with pages.get("/dati/actions.csv") as response:
        assert response.status == 200 and response.headers["ETag"]
        assert response.headers["Content-Type"].startswith("text/csv")
        assert "S4.1" in await response.text()
    async with pages.get("/en/dati/events.ics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/calendar")
    async with pages.get("/dati/nothing.csv") as response:
        assert response.status == 404


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("receive", ["polling", "webhook", "none"])
async def test_the_pages_are_on_in_every_run_mode_where_port_is_set(settings, db, sandbox, receive):
    await import_monitoring(db)
    port = free_port()
    settings = dataclasses.replace(
        settings,
        port=port,
        listen="127.0.0.1",
        webhook_url=f"http://127.0.0.1:{port}",
        webhook_secret="s3cret-token_for-tests",
    )
    stop = asyncio.Event()
    bot = compose_against(sandbox, settings, db, Deployment(receive=receive, sends=False))
    task = asyncio.create_task(run_until_signalled(bot, stop=stop))
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):  # the server starts once the application has
                try:
                    page = await get(client, "/azioni/S4.1/")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("the server did not start")
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    # The deep link names this very bot, as getMe told it.
    assert f"https://t.me/{BOT}?start=action_S4-1" in [a.get("href") for a in page.all("a")]


async def test_a_page_is_rendered_once_per_interval_however_many_ask(db):
    await import_monitoring(db)
    now = [0.0]
    site = SiteServer(db, SiteOptions(), cache_seconds=5, clock=lambda: now[0])
    server = WebServer(health=HealthCheck(db), metrics=Metrics(), site=site)
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as client:
            before = await get(client, "/azioni/S4.1/")
            await import_monitoring(db, UPDATE_CSV, today=TODAY + timedelta(days=30))
            now[0] = 4.9
            assert (await get(client, "/azioni/S4.1/")).html == before.html
            now[0] = 5.0
            after = await get(client, "/azioni/S4.1/")
    finally:
        await server.stop()
    assert "in corso" in before.table("L'azione in breve")["Stato"]
    assert after.table("L'azione in breve")["Stato"] == ["in ritardo"]
