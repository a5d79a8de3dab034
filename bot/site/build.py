"""The static build: every page, QR code and open-data file written into a directory.

`python -m bot site build DIR` writes what the bot's server answers, byte for byte, as
directory-style files any web server serves: `DIR/index.html`, `DIR/strategie/S1/index.html`,
`DIR/azioni/S1.1/qr.svg`, `DIR/dati/actions.csv`, `DIR/en/…`, and `DIR/404.html` (its
links start at PUBLIC_URL, or at the server's root without one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import select

from bot.config import SUPPORTED_LANGUAGES
from bot.db.engine import Database
from bot.db.models import PlanAction, Strategy, Zone
from bot.site.layout import Here, PageKind, PageRef, SiteOptions, in_language
from bot.site.opendata import open_data_files
from bot.site.pages import not_found, render

NOT_FOUND_FILE = "404.html"


@dataclass
class BuildReport:
    pages: int = 0
    files: int = 0
    written: list[Path] = field(default_factory=list)
    total_bytes: int = 0
    largest: tuple[int, Path] | None = None

    def add(self, path: Path, size: int, *, page: bool) -> None:
        self.written.append(path)
        self.total_bytes += size
        if page:
            self.pages += 1
            if self.largest is None or size > self.largest[0]:
                self.largest = (size, path)
        else:
            self.files += 1


async def build_site(
    db: Database, directory: Path, options: SiteOptions, *, now: datetime | None = None
) -> BuildReport:
    """Write the whole site into `directory` (created if needed; files already there stay)."""
    moment = now or datetime.now(UTC)
    report = BuildReport()
    for ref in await every_page(db, with_qr=bool(options.bot_username)):
        rendered = await render(db, ref, options, now=moment)
        if rendered is not None:  # an action removed meanwhile
            _write(directory, file_for(ref), rendered.body, report, page=ref.kind != PageKind.QR)
    for language in SUPPORTED_LANGUAGES:
        files = await open_data_files(db, language=language, base_url=options.public_url)
        for name, data in files.items():
            ref = PageRef(PageKind.DATA_FILE, language, name)
            _write(directory, file_for(ref), data.body, report, page=False)
    missing = not_found(Here("/" + NOT_FOUND_FILE, "it", root=options.public_url or ""), options)
    _write(directory, NOT_FOUND_FILE, missing.body, report, page=True)
    return report


async def every_page(db: Database, *, with_qr: bool) -> list[PageRef]:
    """Every address of the site, in both languages (QR codes only for a known bot)."""
    async with db.transaction() as session:
        strategies = list(await session.scalars(select(Strategy.id).order_by(Strategy.position)))
        zones = list(await session.scalars(select(Zone.id).order_by(Zone.position)))
        actions = list(await session.scalars(select(PlanAction.code).order_by(PlanAction.code)))
    refs = []
    for language in SUPPORTED_LANGUAGES:
        refs += [
            PageRef(kind, language) for kind in (PageKind.HOME, PageKind.EVENTS, PageKind.DATA)
        ]
        refs += [PageRef(PageKind.STRATEGY, language, key) for key in strategies]
        refs += [PageRef(PageKind.ZONE, language, key) for key in zones]
        refs += [PageRef(PageKind.ACTION, language, key) for key in actions]
        if with_qr:
            refs += [PageRef(PageKind.QR, language, key) for key in actions]
    return refs


def file_for(ref: PageRef) -> str:
    """The file of an address, relative to the build directory: a page is its folder's
    `index.html`; codes are percent-decoded, as a web server decodes the address."""
    address = in_language(ref.path, ref.language)
    parts = [unquote(part) for part in address.strip("/").split("/") if part]
    if any(part in (".", "..") or "/" in part or "\\" in part for part in parts):
        raise ValueError(f"not a safe file name: {address!r}")
    if address.endswith("/"):
        parts.append("index.html")
    return "/".join(parts)


def _write(directory: Path, name: str, body: bytes, report: BuildReport, *, page: bool) -> None:
    target = directory / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    report.add(target, len(body), page=page)
