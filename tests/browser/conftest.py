"""A real browser for the public pages: Debian's headless Chromium driven by selenium.

The browser reaches nothing but 127.0.0.1: every other address goes to a proxy that is not
there, and its own background traffic is off. Without Chromium the tests are skipped on a
developer's machine and fail in CI (`CI` set), so CI cannot pass by skipping them.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from bot.db.engine import Database
from bot.web import WebServer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (390, 844)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# A full-page screenshot taller than this is cut: a page that long is a finding in itself.
LONGEST_SCREENSHOT_PX = 8_000
SERIOUS_IMPACTS = ("serious", "critical")

# Loopback is never proxied: anything else goes to a proxy on a port nobody listens on.
OFFLINE_ARGUMENTS = (
    "--proxy-server=http://127.0.0.1:9",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
)


def _chromium_missing() -> str | None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if shutil.which(path) is None]
    return " and ".join(missing) + " not installed" if missing else None


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the whole run, at desktop size (1280×900)."""
    reason = _chromium_missing()
    if reason:
        message = f"browser tests need Debian's chromium and chromium-driver: {reason}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must not skip them; .ci/run installs them)")
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--lang=it-IT",
        *OFFLINE_ARGUMENTS,
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@dataclass(frozen=True)
class Screen:
    width: int
    height: int
    pixel_ratio: int
    mobile: bool  # a phone's viewport rules: <meta name="viewport">, shrink to fit

    def metrics(self, height: int | None = None) -> dict[str, object]:
        return {
            "width": self.width,
            "height": height or self.height,
            "deviceScaleFactor": self.pixel_ratio,
            "mobile": self.mobile,
        }


DESKTOP_SCREEN = Screen(*DESKTOP, pixel_ratio=1, mobile=False)
PHONE_SCREEN = Screen(*PHONE, pixel_ratio=2, mobile=True)
_screens: dict[str, Screen] = {}  # session id → the screen it shows now


def show_as(driver: webdriver.Chrome, screen: Screen) -> None:
    """The viewport of `screen` exactly (CSS pixels), the record of requests emptied."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", screen.metrics())
    _screens[driver.session_id] = screen
    network_log(driver)


@pytest.fixture
def desktop(browser: webdriver.Chrome) -> webdriver.Chrome:
    """The browser with a desktop's viewport (1280×900)."""
    show_as(browser, DESKTOP_SCREEN)
    return browser


@pytest.fixture
def phone(browser: webdriver.Chrome) -> webdriver.Chrome:
    """The browser as a phone: 390×844 CSS pixels, two device pixels each, mobile rules."""
    show_as(browser, PHONE_SCREEN)
    return browser


@dataclass(frozen=True)
class NetworkLog:
    requested: list[str]  # URLs in the order asked for
    failed: dict[str, str]  # URL → Chromium's error (net::ERR_…)
    statuses: dict[str, int]  # URL → HTTP status of its answer


def network_log(driver: webdriver.Chrome) -> NetworkLog:
    """What the page asked for since the last call (and the browser read its log)."""
    urls: dict[str, str] = {}
    failed: dict[str, str] = {}
    statuses: dict[str, int] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params["requestId"] in urls:
            failed[urls[params["requestId"]]] = params["errorText"]
        elif message["method"] == "Network.responseReceived":
            statuses[params["response"]["url"]] = params["response"]["status"]
    return NetworkLog(list(urls.values()), failed, statuses)


def save_screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """The whole page as test-artifacts/screenshots/<name>.png: the viewport is made as tall
    as the page for the shot (capturing beyond the viewport draws scrolled boxes wrongly)."""
    screen = _screens.get(driver.session_id, DESKTOP_SCREEN)
    content = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    height = min(math.ceil(content["height"]), LONGEST_SCREENSHOT_PX)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", screen.metrics(height))
    try:
        png = driver.get_screenshot_as_png()
    finally:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", screen.metrics())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{_file_name(name)}.png"
    path.write_bytes(png)
    return path


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-")


@pytest.fixture
def screenshot(
    request: pytest.FixtureRequest, browser: webdriver.Chrome
) -> Iterator[Callable[[str], Path]]:
    """Saves the page as `<test name>.png` when the test ends (passed or failed); call it to
    save a page on the way as `<test name>-<label>.png`."""
    test_name = request.node.name

    def save(label: str) -> Path:
        return save_screenshot(browser, f"{test_name}-{label}")

    yield save
    if browser.current_url.startswith("http"):
        save_screenshot(browser, test_name)


def serious_violations(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page shown now."""
    axe = Axe(driver)
    axe.inject()
    results = axe.run(options=json.dumps({"resultTypes": ["violations"]}))
    return [v for v in results["violations"] if v.get("impact") in SERIOUS_IMPACTS]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violated rule, with each offending element: for assertion messages."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"  {' '.join(node['target'])}: {node['html'][:200]}")
            lines.extend(f"    {check['message']}" for check in node["any"] + node["all"])
    return "\n".join(lines)


class ServerThread:
    """The project's web server on 127.0.0.1 in a thread with its own event loop and its own
    engine on the test's database: selenium's calls block the test's loop, and the server has
    to answer meanwhile. `build(db)` makes the server, as the runtime would."""

    def __init__(self, database_url: str, build: Callable[[Database], WebServer]) -> None:
        self.database_url = database_url
        self._build = build
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._db: Database | None = None
        self._server: WebServer | None = None

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._await(self._started())
        return self

    def __exit__(self, *exc: object) -> None:
        self._await(self._stopped())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    @property
    def origin(self) -> str:
        assert self._server is not None and self._server.port is not None
        return f"http://127.0.0.1:{self._server.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def _await(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    async def _started(self) -> None:
        self._db = Database(self.database_url)
        self._server = self._build(self._db)
        await self._server.start("127.0.0.1", 0)

    async def _stopped(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._db is not None:
            await self._db.dispose()
