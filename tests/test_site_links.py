"""The bot and the public pages link to each other: deep links to follow an action (and their
QR codes), and, with PUBLIC_URL, links from /piano's cards and monitoring notifications."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ElementTree

import pytest
import segno

from bot.db.models import TargetKind
from bot.runtime import polling
from bot.services import subscriptions
from bot.services.site_links import home_page_url
from bot.services.subscriptions import Target
from bot.site.qr import QUIET_ZONE, action_deep_link, action_page_url, qr_svg
from tests.conftest import compose_against
from tests.test_citizen_flow import followed
from tests.test_delivery import subscriber
from tests.test_monitoring_import import SAMPLE, UPDATE_CSV, import_files

PUBLIC_URL = "https://psm.example.org"
SVG = "{http://www.w3.org/2000/svg}"


# --- deep links: the action's code spelt for Telegram's start parameter, and read back -----


@pytest.mark.parametrize(
    ("code", "parameter"),
    [
        ("S4.1", "action_S4-1"),
        ("S1", "action_S1"),
        ("A-1", "action_A_-1"),
        ("a_b", "action_a__b"),
        ("a._-b", "action_a-___-b"),
        ("X" * 32, "action_" + "X" * 32),
    ],
)
def test_an_action_code_is_spelt_for_telegram_and_read_back_as_the_same_code(code, parameter):
    assert subscriptions.action_start_parameter(code) == parameter
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", parameter)
    assert subscriptions.parse_deep_link(parameter) == Target(TargetKind.ACTION, code)


@pytest.mark.parametrize(
    "payload", ["action_", "action_S4_1", "action_-S4", "action_S4.1", "action_" + "a" * 58]
)
def test_a_start_parameter_that_spells_no_action_code_is_refused(payload):
    assert subscriptions.parse_deep_link(payload) is None


def test_a_code_too_long_for_telegram_links_to_the_bot_itself():
    code = "a" + "_" * 31  # 63 characters once spelt: no room for "action_"
    assert subscriptions.action_start_parameter(code) is None
    assert action_deep_link("psm_test_bot", code) == "https://t.me/psm_test_bot"


def test_the_deep_link_and_the_pages_of_an_action():
    assert action_deep_link("@psm_test_bot", "S4.1") == (
        "https://t.me/psm_test_bot?start=action_S4-1"
    )
    assert action_page_url(PUBLIC_URL, "S4.1", "it") == "https://psm.example.org/azioni/S4.1/"
    assert action_page_url(PUBLIC_URL + "/", "S4.1", "en") == (
        "https://psm.example.org/en/azioni/S4.1/"
    )
    assert action_page_url("http://127.0.0.1:8080/psm", "a b", "it") == (
        "http://127.0.0.1:8080/psm/azioni/a%20b/"
    )
    assert home_page_url(PUBLIC_URL, "it") == "https://psm.example.org/"
    assert home_page_url(PUBLIC_URL, "en") == "https://psm.example.org/en/"
    with pytest.raises(ValueError):
        home_page_url(PUBLIC_URL, "de")


# --- the QR code ----------------------------------------------------------------------------


def drawn_modules(svg: str) -> tuple[int, set[tuple[int, int]]]:
    """The side (in modules) and the dark modules the SVG draws, read from its path."""
    root = ElementTree.fromstring(svg)
    side = int(root.get("viewBox", "").split()[2])
    (path,) = root.iter(SVG + "path")
    dark = set()
    for x, y, width in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path.get("d", "")):
        dark |= {(int(x) + i, int(y)) for i in range(int(width))}
    return side, dark


def test_the_qr_code_is_an_accessible_svg_that_draws_segnos_matrix():
    link = action_deep_link("psm_test_bot", "S4.1")
    svg = qr_svg(link, title="Segui l'azione S4.1 su Telegram & co.")
    root = ElementTree.fromstring(svg)
    assert root.tag == SVG + "svg"
    assert root.get("role") == "img"
    assert root.findtext(SVG + "title") == "Segui l'azione S4.1 su Telegram & co."
    assert root.findtext(SVG + "desc") == link

    matrix = segno.make_qr(link, error="m").matrix
    side, dark = drawn_modules(svg)
    assert side == len(matrix) + 2 * QUIET_ZONE
    assert root.get("width") == root.get("height") == str(side * 8)
    expected = {
        (x + QUIET_ZONE, y + QUIET_ZONE)
        for y, row in enumerate(matrix)
        for x, module in enumerate(row)
        if module
    }
    assert dark == expected
    (background,) = root.iter(SVG + "rect")
    assert background.get("fill") == "#ffffff"
    assert background.get("width") == str(side)


def test_the_qr_code_reads_back_as_the_deep_link():
    zxingcpp = pytest.importorskip("zxingcpp")
    numpy = pytest.importorskip("numpy")
    link = action_deep_link("psm_test_bot", "S4.1")
    side, dark = drawn_modules(qr_svg(link, title="QR"))
    image = numpy.full((side, side), 255, dtype=numpy.uint8)
    for x, y in dark:
        image[y, x] = 0
    scaled = numpy.kron(image, numpy.ones((6, 6), dtype=numpy.uint8))
    (read,) = zxingcpp.read_barcodes(scaled)
    assert read.format == zxingcpp.BarcodeFormat.QRCode
    assert read.text == link


# --- /start action_<code> -------------------------------------------------------------------


@pytest.fixture
async def sample_data(db):
    await import_files(db, SAMPLE, notify=False)


@pytest.mark.usefixtures("running_bot", "sample_data")
async def test_the_deep_link_of_an_action_follows_it(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    replies = await anna.send("/start action_S4-1")
    texts = [entry.text for entry in replies if entry.kind == "bot_message"]
    assert texts[0] == (
        "Fatto: ora segui l'azione S4.1 · Parco del Tigullio: modello di spazio urbano "
        "sostenibile. Riceverai qui i suoi aggiornamenti; /piano S4.1 ne mostra la scheda."
    )
    assert "Anna" in texts[1]  # the welcome follows
    assert await followed(db, 1001, TargetKind.ACTION) == {"S4.1"}

    replies = await anna.send("/start action_S4-1")
    assert "Segui già S4.1 · Parco del Tigullio" in replies[0].text
    assert await followed(db, 1001, TargetKind.ACTION) == {"S4.1"}

    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    replies = await ben.send("/start " + action_deep_link("psm_test_bot", "S2.1").split("=")[1])
    assert replies[0].text.startswith("Done: you now follow the action S2.1 · ")
    assert await followed(db, 1002, TargetKind.ACTION) == {"S2.1"}


@pytest.mark.usefixtures("running_bot", "sample_data")
async def test_the_deep_link_of_an_unknown_action_says_so_and_still_greets(sandbox, db):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    replies = await ben.send("/start action_S9-9")
    texts = [entry.text for entry in replies if entry.kind == "bot_message"]
    assert texts[0] == (
        "The action S9.9 is not among the plan's monitored actions (any more). "
        "Send /piano to browse them."
    )
    assert "Welcome, Ben!" in texts[1]
    assert await followed(db, 1002, TargetKind.ACTION) == set()


# --- links to the public pages, with PUBLIC_URL ----------------------------------------------


@pytest.fixture
def published(settings, db, sandbox):
    """The shipped composition with PUBLIC_URL set."""
    return compose_against(sandbox, dataclasses.replace(settings, public_url=PUBLIC_URL), db)


def url_buttons(entry) -> dict[str, str | None]:
    return {label: value for row in entry.buttons for label, value in row}


def links(entry) -> list[str]:
    return [entity["url"] for entity in entry.entities if entity["type"] == "text_link"]


@pytest.mark.usefixtures("sample_data")
async def test_with_public_url_an_action_card_opens_its_public_page(sandbox, published):
    async with polling(published.application, poll_timeout=1):
        anna = sandbox.user(1001, first_name="Anna", language_code="it")
        await anna.send("/piano S4.1")
        assert url_buttons(anna.last_bot_message)["🌐 Scheda pubblica"] == (
            "https://psm.example.org/azioni/S4.1/"
        )
        await anna.press("🔔 Segui questa azione")  # the redrawn card keeps it
        assert "🌐 Scheda pubblica" in url_buttons(anna.last_bot_message)

        ben = sandbox.user(1002, first_name="Ben", language_code="en")
        await ben.send("/plan S2.1")
        assert url_buttons(ben.last_bot_message)["🌐 Public page"] == (
            "https://psm.example.org/en/azioni/S2.1/"
        )


@pytest.mark.usefixtures("running_bot", "sample_data")
async def test_without_public_url_an_action_card_links_to_no_page(sandbox):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/piano S4.1")
    card = anna.last_bot_message
    assert "🔔 Segui questa azione" in url_buttons(card)
    assert not any(value and "://" in value for value in url_buttons(card).values())


async def deliver(sender) -> None:
    async with sender.bot:
        await sender.run_until_idle()


async def monitoring_update_delivered(db, sandbox, sender) -> None:
    await import_files(db, SAMPLE, notify=False)
    await subscriber(db, sandbox, 1, (TargetKind.ACTION, "S4.1"))
    await subscriber(db, sandbox, 2, (TargetKind.STRATEGY, "S4"))  # four at once: grouped
    await subscriber(db, sandbox, 5, (TargetKind.ZONE, "tigullio"))  # the review only
    await subscriber(db, sandbox, 6, (TargetKind.ACTION, "S2.1"), language="en")
    await import_files(db, UPDATE_CSV)
    await deliver(sender)


async def test_with_public_url_monitoring_notifications_link_to_the_public_pages(
    db, sandbox, published
):
    await monitoring_update_delivered(db, sandbox, published.sender)

    changes = sandbox.user(1).bot_messages
    assert len(changes) == 3
    for change in changes:
        assert "🌐 Scheda pubblica" in change.text
        assert "https://psm.example.org/azioni/S4.1/" in links(change)

    (grouped,) = sandbox.user(2).bot_messages
    assert "https://psm.example.org/azioni/S4.1/" in links(grouped)
    assert "https://psm.example.org/" in links(grouped)  # the review's item

    (review,) = sandbox.user(5).bot_messages
    assert "🌐 Il Piano in cifre" in review.text
    assert "https://psm.example.org/" in links(review)

    english = sandbox.user(6).bot_messages
    assert len(english) == 2
    for change in english:
        assert "🌐 Public page" in change.text
        assert "https://psm.example.org/en/azioni/S2.1/" in links(change)


async def test_without_public_url_monitoring_notifications_link_to_no_page(db, sandbox, composed):
    await monitoring_update_delivered(db, sandbox, composed.sender)
    delivered = [message for user in (1, 2, 5, 6) for message in sandbox.user(user).bot_messages]
    assert len(delivered) == 7
    for message in delivered:
        assert "🌐" not in message.text
        assert not any(link.startswith(PUBLIC_URL) for link in links(message))
