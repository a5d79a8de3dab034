"""The static build of the public pages: every page and file, the bytes the server answers."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from bot.cli import main
from bot.metrics import Metrics
from bot.services import plan
from bot.site.build import build_site
from bot.site.layout import SiteOptions
from bot.site.opendata import open_data_files
from bot.site.server import SiteServer
from bot.web import HealthCheck, WebServer
from tests.test_site_pages import BOT, MAX_PAGE_BYTES, Page, import_monitoring, sample_actions

OPTIONS = SiteOptions(bot_username=BOT)


@pytest.fixture
async def built(db, tmp_path) -> Path:
    await import_monitoring(db)
    directory = tmp_path / "site"
    await build_site(db, directory, OPTIONS)
    return directory


def built_files(directory: Path) -> set[str]:
    return {
        path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()
    }


async def test_the_build_writes_every_page_qr_code_and_open_data_file(db, built):
    strategies = [s["id"] for s in plan.load_plan().strategies]
    zones = [z["id"] for z in plan.load_plan().zones]
    codes = [a["code"] for a in sample_actions()]
    expected = {"404.html"}
    for prefix in ("", "en/"):
        expected |= {
            f"{prefix}index.html",
            f"{prefix}eventi/index.html",
            f"{prefix}dati/index.html",
        }
        expected |= {f"{prefix}strategie/{s}/index.html" for s in strategies}
        expected |= {f"{prefix}zone/{z}/index.html" for z in zones}
        expected |= {f"{prefix}azioni/{c}/index.html" for c in codes}
        expected |= {f"{prefix}azioni/{c}/qr.svg" for c in codes}
        language = "en" if prefix else "it"
        files = await open_data_files(db, language=language, base_url=None)
        assert "actions.csv" in files and "events.ics" in files
        expected |= {f"{prefix}dati/{name}" for name in files}
    assert built_files(built) == expected
    for name in expected:
        if name.endswith(".html"):
            page = Page((built / name).read_text(encoding="utf-8"))
            assert page.tags["h1"] == 1, name
            assert (built / name).stat().st_size < MAX_PAGE_BYTES, name


async def test_the_built_files_are_the_bytes_the_server_answers(db, built):
    server = WebServer(health=HealthCheck(db), metrics=Metrics(), site=SiteServer(db, OPTIONS))
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as client:
            for name in sorted(built_files(built) - {"404.html"}):
                path = "/" + name.removesuffix("index.html")
                async with client.get(path) as response:
                    assert response.status == 200, path
                    assert await response.read() == (built / name).read_bytes(), path
    finally:
        await server.stop()


LINK = re.compile(r'(?:href|src)="([^"]+)"')


async def test_every_link_between_built_pages_leads_to_a_built_file(built):
    checked = 0
    for page in built.rglob("*.html"):
        if page.name == "404.html":
            continue
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            resolved = (page.parent / target).resolve()
            if target.endswith("/"):
                resolved = resolved / "index.html"
            assert resolved.is_file(), (page.relative_to(built), target)
            checked += 1
    assert checked > 1000


def test_the_command_line_builds_the_site(database_url, db, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BOT_USERNAME", BOT)
    monkeypatch.setenv("PUBLIC_URL", "https://psm.example.org/piano/")
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    directory = tmp_path / "out"
    assert main(["site", "build", str(directory)]) == 0
    assert re.match(
        r"wrote \d+ pages and \d+ files \(\d+ KB; largest page \d+ KB\)", (capsys.readouterr().out)
    )
    assert (directory / "index.html").is_file() and (directory / "en" / "dati").is_dir()
    missing = Page((directory / "404.html").read_text(encoding="utf-8"))
    assert {a["href"] for a in missing.all("a") if a.get("hreflang")} == {
        "https://psm.example.org/piano/en/"
    }
    home = [a["href"] for a in missing.all("a") if a.get("class") != "skip"]
    assert "https://psm.example.org/piano/" in home


def test_a_directory_that_cannot_be_written_is_one_line(
    database_url, db, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    occupied = tmp_path / "a-file"
    occupied.write_text("not a directory")
    assert main(["site", "build", str(occupied)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("psm-bot: site: cannot write") and error.count("\n") == 1
