"""The pages' shell and addresses: one HTML document per page, its links relative.

Links are relative to the page (`../../strategie/S1/`), so the same bytes work from the
bot's server and from a static build served under any folder of another web server. Every
page has one `h1`, landmarks (banner, navigation, `main#main`, contentinfo), a skip link,
its language in `lang` and a link to the same page in the other language (`hreflang`).
Render inside `use_locale(here.language)`.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote, unquote

from babel import Locale

from bot.config import SUPPORTED_LANGUAGES
from bot.i18n import _
from bot.services.site import PRIVACY_THRESHOLD

HOME = "/"
EVENTS = "/eventi/"
DATA = "/dati/"


def strategy_path(strategy_id: str) -> str:
    return f"/strategie/{_segment(strategy_id)}/"


def zone_path(zone_id: str) -> str:
    return f"/zone/{_segment(zone_id)}/"


def action_path(code: str) -> str:
    return f"/azioni/{_segment(code)}/"


def qr_path(code: str) -> str:
    return action_path(code) + "qr.svg"


def data_file_path(name: str) -> str:
    return DATA + _segment(name)


def _segment(value: str) -> str:
    return quote(value, safe="")


def in_language(path: str, language: str) -> str:
    """The address of a page in a language: Italian at the root, English under /en/."""
    return "/en" + path if language == "en" else path


def other_language(language: str) -> str:
    return next(other for other in SUPPORTED_LANGUAGES if other != language)


def relative(here: str, there: str) -> str:
    """The link from the page at `here` to `there` (both absolute paths)."""
    base = here if here.endswith("/") else posixpath.dirname(here) + "/"
    target = posixpath.relpath(there, base.rstrip("/") or "/")
    if there.endswith("/"):
        target = "./" if target == "." else target + "/"
    return target


@dataclass(frozen=True)
class Here:
    """The page being rendered: its language-neutral path and its language.

    Links are relative to the page, unless `root` is given: then they start with it (`""`
    for `/strategie/S1/`, or a public URL), as a page served at any address needs (404).
    """

    path: str
    language: str
    root: str | None = None

    @property
    def address(self) -> str:
        return in_language(self.path, self.language)

    def link(self, path: str) -> str:
        """A link to another page (language-neutral path) in this page's language."""
        return self._to(in_language(path, self.language))

    def translation(self, path: str | None = None) -> tuple[str, str]:
        """(language, link) of this page (or of the page at `path`) in the other language."""
        language = other_language(self.language)
        return language, self._to(in_language(path or self.path, language))

    def _to(self, there: str) -> str:
        if self.root is not None:
            return self.root.rstrip("/") + there
        return relative(self.address, there)


@dataclass(frozen=True)
class SiteOptions:
    """What the pages link to outside themselves."""

    bot_username: str | None = None  # for the deep link to follow an action, and its QR code
    public_url: str | None = None  # where the pages are published (absolute links in files)

    def bot_link(self) -> str | None:
        return f"https://t.me/{self.bot_username}" if self.bot_username else None


# --- addresses ----------------------------------------------------------------------------


class PageKind(enum.StrEnum):
    HOME = "home"
    STRATEGY = "strategy"
    ZONE = "zone"
    ACTION = "action"
    QR = "qr"
    EVENTS = "events"
    DATA = "data"
    DATA_FILE = "data_file"


@dataclass(frozen=True)
class PageRef:
    """One address of the site: what it shows, in which language."""

    kind: PageKind
    language: str = "it"
    key: str | None = None

    @property
    def path(self) -> str:
        """The language-neutral path (`/azioni/S1.1/`)."""
        key = self.key or ""
        return {
            PageKind.HOME: lambda: HOME,
            PageKind.STRATEGY: lambda: strategy_path(key),
            PageKind.ZONE: lambda: zone_path(key),
            PageKind.ACTION: lambda: action_path(key),
            PageKind.QR: lambda: qr_path(key),
            PageKind.EVENTS: lambda: EVENTS,
            PageKind.DATA: lambda: DATA,
            PageKind.DATA_FILE: lambda: data_file_path(key),
        }[self.kind]()

    @property
    def here(self) -> Here:
        return Here(self.path, self.language)


_SECTIONS = {
    "strategie": PageKind.STRATEGY,
    "zone": PageKind.ZONE,
    "azioni": PageKind.ACTION,
}


def parse(path: str) -> PageRef | None:
    """The page at a URL path (percent-encoded or not); None when no page can be there."""
    language = "it"
    if path == "/en" or path.startswith("/en/"):
        language, path = "en", path[3:] or "/"
    parts = [unquote(part) for part in path.split("/")]
    if parts[0] != "" or any(part in (".", "..") for part in parts):
        return None
    parts = parts[1:]
    if parts == [""]:
        return PageRef(PageKind.HOME, language)
    if parts == ["eventi", ""]:
        return PageRef(PageKind.EVENTS, language)
    if parts == ["dati", ""]:
        return PageRef(PageKind.DATA, language)
    if len(parts) == 2 and parts[0] == "dati" and parts[1]:
        return PageRef(PageKind.DATA_FILE, language, parts[1])
    if len(parts) == 3 and parts[0] in _SECTIONS and parts[1]:
        if parts[2] == "":
            return PageRef(_SECTIONS[parts[0]], language, parts[1])
        if parts[0] == "azioni" and parts[2] == "qr.svg":
            return PageRef(PageKind.QR, language, parts[1])
    return None


def e(text: object) -> str:
    return escape(str(text), quote=True)


def h2(text: str) -> str:
    return f"<h2>{e(text)}</h2>"


def h3(text: str) -> str:
    return f"<h3>{e(text)}</h3>"


def para(html: str) -> str:
    """A paragraph of HTML (escape text with `e` first, or use `text`)."""
    return f"<p>{html}</p>"


def paragraph(words: str) -> str:
    """A paragraph of plain text."""
    return para(e(words))


def link(href: str, label: str) -> str:
    return f'<a href="{e(href)}">{e(label)}</a>'


def language_name(language: str) -> str:
    """A language's name in itself ("English", "Italiano"), from Babel."""
    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]


STYLE = """
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;
background:#fff}
a{color:#0b4f9c}
a:focus-visible,main:focus-visible,[tabindex]:focus-visible{outline:3px solid #b34700;
outline-offset:2px}
.skip{position:absolute;left:-999px;top:.5rem;background:#fff;color:#0b4f9c;padding:.5rem 1rem;
z-index:1}
.skip:focus{left:.5rem}
.site{background:#0f2f57;color:#fff;padding:.75rem 1rem}
.site a{color:#fff}
.site a:focus-visible{outline-color:#ffd166}
.site .bar{max-width:62rem;margin:0 auto;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;
align-items:baseline;justify-content:space-between}
.brand{margin:0;font-weight:700;font-size:1.15rem}
.brand small{display:block;font-weight:400;font-size:.85rem}
.site ul{list-style:none;display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;margin:0;padding:0}
.site a[aria-current]{font-weight:700;text-decoration-thickness:3px}
main{display:block;max-width:62rem;margin:0 auto;padding:1rem}
h1{font-size:1.8rem;line-height:1.2;margin:.5rem 0 1rem}
h2{font-size:1.35rem;line-height:1.25;margin:2rem 0 .5rem}
h3{font-size:1.1rem;margin:1.5rem 0 .5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
caption{text-align:left;font-weight:700;padding:.25rem 0}
th,td{border-bottom:1px solid #8a8a8a;padding:.35rem .5rem;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #1b1b1b}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.wide{overflow-x:auto}
figure.chart{margin:1rem 0;display:grid;gap:1rem;grid-template-columns:minmax(0,3fr) minmax(0,2fr);
align-items:start}
figure.chart svg{width:100%;max-width:34rem;height:auto;display:block}
@media (max-width:48rem){figure.chart{grid-template-columns:1fr}h1{font-size:1.5rem}}
.figures{display:flex;flex-wrap:wrap;gap:1rem;list-style:none;padding:0;margin:1rem 0}
.figures li{border:1px solid #8a8a8a;border-radius:.25rem;padding:.5rem .75rem;min-width:9rem}
.figures strong{display:block;font-size:1.5rem}
.badge{display:inline-block;border:2px solid currentColor;border-radius:.25rem;
padding:0 .3rem;font-size:.8rem;font-weight:700;line-height:1.4;vertical-align:middle}
.sample{color:#8a3b00}
.note{border-left:4px solid #8a3b00;background:#fff6ec;padding:.5rem .75rem;margin:1rem 0}
.changes,.events{padding-left:1.25rem}
.changes li,.events li{margin:.35rem 0}
.meta{color:#4a4a4a}
.qr{display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
.qr img{width:10rem;height:10rem;border:1px solid #8a8a8a}
blockquote{margin:.5rem 0;padding:.25rem .75rem;border-left:4px solid #0b4f9c}
footer{max-width:62rem;margin:2rem auto 0;padding:1rem;border-top:1px solid #8a8a8a;
font-size:.9rem}
"""


def document(
    here: Here,
    *,
    title: str,
    body: str,
    description: str,
    section: str | None = None,
    bot_link: str | None = None,
    translated: str | None = None,
) -> str:
    """The whole page: head, banner with navigation and language switch, main, footer.

    The language switch leads to the same page in the other language, or to `translated`
    (a page with no other language of its own, such as the 404 page, leads home)."""
    site_name, skip = _("The Plan in figures"), _("Skip to content")
    other, other_link = here.translation(translated)
    head = (
        f'<!doctype html>\n<html lang="{e(here.language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(title)} · {e(site_name)}</title>\n"
        f'<meta name="description" content="{e(description)}">\n'
        f'<link rel="alternate" hreflang="{e(other)}" href="{e(other_link)}">\n'
        f"<style>{STYLE}</style>\n</head>\n"
    )
    return (
        head
        + "<body>\n"
        + f'<a class="skip" href="#main">{e(skip)}</a>\n'
        + _banner(here, site_name, section, other, other_link)
        + f'<main id="main" tabindex="-1">\n{body}\n</main>\n'
        + _footer(here, bot_link)
        + "</body>\n</html>\n"
    )


def _banner(here: Here, site_name: str, section: str | None, other: str, other_link: str) -> str:
    sections = [
        (HOME, _("Home")),
        (EVENTS, _("Events")),
        (DATA, _("Open data")),
    ]
    items = "".join(
        f'<li><a href="{e(here.link(path))}"'
        + (' aria-current="page"' if path == section else "")
        + f">{e(label)}</a></li>"
        for path, label in sections
    )
    switch = (
        f'<a href="{e(other_link)}" hreflang="{e(other)}" lang="{e(other)}">'
        f"{e(language_name(other))}</a>"
    )
    plan_name, navigation = _("Metropolitan Strategic Plan of Genoa"), _("Sections")
    return (
        '<header class="site"><div class="bar">'
        f'<p class="brand"><a href="{e(here.link(HOME))}">{e(site_name)}</a>'
        f"<small>{e(plan_name)}</small></p>"
        f'<nav aria-label="{e(navigation)}"><ul>{items}</ul></nav>'
        f'<p class="language">{switch}</p>'
        "</div></header>\n"
    )


def _footer(here: Here, bot_link: str | None) -> str:
    privacy = _(
        "Contributions are only counted, never shown: a count below {count} reads "
        "“fewer than {count}”, so that nobody can be singled out."
    ).format(count=PRIVACY_THRESHOLD)
    withheld = _(
        "Where such a count could be worked out from the others and their total, it and the "
        "smallest of the others read “not shown”."
    )
    parts = [
        paragraph(f"{privacy} {withheld}"),
        para(link(here.link(DATA), _("Every figure of these pages as open data"))),
    ]
    if bot_link:
        parts.append(para(link(bot_link, _("Follow the plan on Telegram"))))
    return "<footer>" + "".join(parts) + "</footer>\n"


NUMERIC = ' class="num"'


def table(
    caption: str,
    headers: Sequence[tuple[str, bool]],
    rows: Iterable[Sequence[str]],
    *,
    wide: bool = False,
) -> str:
    """A table with a caption; `headers` are (text, numeric); each row's cells are HTML
    already escaped, the first one a row header."""
    head = "".join(
        f'<th scope="col"{NUMERIC if numeric else ""}>{e(text)}</th>' for text, numeric in headers
    )
    body = []
    for row in rows:
        cells = [f'<th scope="row">{row[0]}</th>']
        for (_text, numeric), cell in zip(headers[1:], row[1:], strict=True):
            cells.append(f"<td{NUMERIC if numeric else ''}>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    html = (
        f"<table><caption>{e(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    if wide:
        # Scrolls sideways on a phone; focusable so that the keyboard can scroll it too.
        return (
            f'<div class="wide" role="region" aria-label="{e(caption)}" tabindex="0">{html}</div>'
        )
    return html
