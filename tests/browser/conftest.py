"""A real browser for the public pages: Debian's headless Chromium driven by selenium.

The browser reaches nothing but 127.0.0.1: every other address goes to a proxy that is not
there, and its own background traffic is off. Without Chromium the tests are skipped on a
developer's machine and fail in CI (`CI` set), so CI cannot pass by skipping them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from bot.db.engine import Database

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (390, 844)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# A full-page screenshot taller than this is cut: a page that long is a finding in itself.
LONGEST_SCREENSHOT_PX = 12_000
SERIOUS_IMPACTS = ("serious", "critical")

T = TypeVar("T")

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


@pytest.fixture
def desktop(browser: webdriver.Chrome) -> webdriver.Chrome:
    """The browser at desktop size, its record of requests emptied."""
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    network_log(browser)
    return browser


@pytest.fixture
def phone(browser: webdriver.Chrome) -> Iterator[webdriver.Chrome]:
    """The browser as a phone (390×844 CSS pixels, mobile viewport rules) for one test."""
    width, height = PHONE
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True},
    )
    network_log(browser)
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@dataclass(frozen=True)
class NetworkLog:
    requested: list[str]  # URLs in the order asked for
    failed: dict[str, str]  # URL → Chromium's error (net::ERR_…)


def network_log(driver: webdriver.Chrome) -> NetworkLog:
    """What the page asked for since the last call (and the browser read its log)."""
    urls: dict[str, str] = {}
    failed: dict[str, str] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params["requestId"] in urls:
            failed[urls[params["requestId"]]] = params["errorText"]
    return NetworkLog(list(urls.values()), failed)


def save_screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """The whole page, not only the viewport, as test-artifacts/screenshots/<name>.png."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    clip = {
        "x": 0,
        "y": 0,
        "width": size["width"],
        "height": min(size["height"], LONGEST_SCREENSHOT_PX),
        "scale": 1,
    }
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{_file_name(name)}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


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
    """A server of the project on 127.0.0.1 in a thread with its own event loop and its own
    engine on the test's database: selenium's calls block the test's loop, and the server has
    to answer meanwhile.

    `start(db)` starts the server and returns its port; `stop()` stops it.
    """

    def __init__(
        self,
        database_url: str,
        start: Callable[[Database], Awaitable[int]],
        stop: Callable[[], Awaitable[None]],
    ) -> None:
        self.database_url = database_url
        self._start = start
        self._stop = stop
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.db: Database | None = None
        self.port: int | None = None

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self.port = self.run(self._started)
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._stopped)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def run(self, coroutine_function: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        """Awaits `coroutine_function()` on the server's loop and returns its result."""

        async def call() -> T:
            return await coroutine_function()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout)

    async def _started(self) -> int:
        self.db = Database(self.database_url)
        return await self._start(self.db)

    async def _stopped(self) -> None:
        await self._stop()
        if self.db is not None:
            await self.db.dispose()
