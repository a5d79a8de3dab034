"""Translations (Babel/gettext) and locale-aware formatting in Europe/Rome time.

The current language lives in a ContextVar, so each update, job or broadcast renders in
its recipient's language: `with use_locale("en"): _("...")`.
Catalogs are compiled from the `.po` files in memory at first use; no `.mo` is committed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from bot.config import SUPPORTED_LANGUAGES, TIMEZONE

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"

_current_language: ContextVar[str] = ContextVar("language", default="it")


def po_path(language: str, locales_dir: Path = LOCALES_DIR) -> Path:
    return locales_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> Translations:
    with po_path(language).open("rb") as po_file:
        catalog = read_po(po_file, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def compile_catalogs(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Write `.mo` files next to the `.po` files (for tools that want them on disk)."""
    written = []
    for language in SUPPORTED_LANGUAGES:
        source = po_path(language, locales_dir)
        with source.open("rb") as po_file:
            catalog = read_po(po_file, locale=language, domain=DOMAIN)
        target = source.with_suffix(".mo")
        with target.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        written.append(target)
    return written


def current_language() -> str:
    return _current_language.get()


@contextmanager
def use_locale(language: str) -> Iterator[None]:
    if language not in SUPPORTED_LANGUAGES:
        language = "it"
    token = _current_language.set(language)
    try:
        yield
    finally:
        _current_language.reset(token)


def set_locale(language: str) -> None:
    """Set the language for the rest of the current task (one update = one task)."""
    _current_language.set(language if language in SUPPORTED_LANGUAGES else "it")


def gettext(message: str) -> str:
    return translations(current_language()).ugettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return translations(current_language()).ungettext(singular, plural, count)


def N_(message: str) -> str:  # noqa: N802 - gettext convention
    """Mark a string for extraction; translate it later with `_()`."""
    return message


_ = gettext


def format_datetime(moment: datetime, fmt: str = "medium") -> str:
    """A timestamp in the current language, shown in Europe/Rome time."""
    return babel_format_datetime(
        moment, fmt, tzinfo=TIMEZONE, locale=Locale.parse(current_language())
    )


def format_number(value: float | int) -> str:
    return format_decimal(value, locale=Locale.parse(current_language()))
