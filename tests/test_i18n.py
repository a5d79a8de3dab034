"""Every user-facing string is translated in Italian and English, placeholders intact."""

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import _, format_datetime, format_number, ngettext, po_path, use_locale

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("it", "en")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
TAG = re.compile(r"</?[a-z-]+")


def source_messages() -> set[str | tuple[str, str]]:
    """What the code asks to translate, extracted from the sources as `pybabel extract` does."""
    found = set()
    for package in ("bot", "feeds"):
        directory = ROOT / package
        if not directory.exists():
            continue
        for _file, _line, message, _comments, _context in extract_from_dir(
            directory,
            method_map=[("**.py", "python")],
            keywords={"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)},
        ):
            found.add(message if isinstance(message, str) else tuple(message))
    return found


def catalog(language: str):
    with po_path(language).open("rb") as po_file:
        return read_po(po_file, locale=language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_in_the_code_has_a_translation(language):
    translated = {}
    for message in catalog(language):
        if not message.id or message.fuzzy:
            continue
        key = message.id if isinstance(message.id, str) else tuple(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if all(strings):
            translated[key] = strings
    missing = sorted(map(str, source_messages() - translated.keys()))
    assert not missing, f"untranslated in locales/{language}: {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_placeholders_and_markup(language):
    for message in catalog(language):
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        expected_placeholders = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) <= expected_placeholders, (message.id, string)
            assert sorted(TAG.findall(string)) == sorted(TAG.findall(ids[0])), (message.id, string)


def test_italian_is_rendered_from_the_catalog():
    with use_locale("it"):
        assert _("Follow a strategy") == "Segui una strategia"
        assert (
            ngettext(
                "<b>The zone of the metropolitan area</b>",
                "<b>The {count} zones of the metropolitan area</b>",
                9,
            )
            == "<b>Le {count} zone dell'area metropolitana</b>"
        )
    with use_locale("en"):
        assert _("Follow a strategy") == "Follow a strategy"


def test_dates_are_shown_in_rome_time_across_daylight_saving():
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # CEST, UTC+2
    winter = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # CET, UTC+1
    with use_locale("it"):
        assert "14:00" in format_datetime(summer)
        assert "13:00" in format_datetime(winter)
        assert format_number(1234.5) == "1.234,5"
    with use_locale("en"):
        assert "2:00" in format_datetime(summer)
        assert format_number(1234.5) == "1,234.5"


def test_unknown_language_falls_back_to_italian():
    with use_locale("de"):
        assert _("Zones") == "Zone"


TRANSLATION_CALLS = {"_", "gettext", "ngettext"}


def _translation_calls_in_fstrings(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr):
            continue
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Name)
                and inner.func.id in TRANSLATION_CALLS
            ):
                lines.append(inner.lineno)
    return lines


def test_no_translation_call_hides_inside_an_f_string():
    """pybabel cannot see `_()` inside f-string expressions: such text would never be translated."""
    offenders = []
    for package in ("bot", "feeds"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            offenders += [
                f"{path.relative_to(ROOT)}:{n}" for n in _translation_calls_in_fstrings(tree)
            ]
    assert offenders == []


def test_the_f_string_check_finds_a_hidden_call():
    sample = ast.parse("""x = f'<a href="{link}">{escape(_("Open"))}</a>'""")
    assert _translation_calls_in_fstrings(sample) == [1]
