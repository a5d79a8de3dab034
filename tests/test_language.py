"""Everything a person reads is in their language: reasons, menus, help, labels."""

import argparse
import dataclasses
import re

import pytest

from bot.cli import broadcast as broadcast_cli
from bot.cli import feeds as feeds_cli
from bot.db.models import Strategy
from bot.i18n import use_locale
from bot.services import plan
from tests.test_citizen_flow import labels
from tests.test_i18n import catalog, source_messages
from tests.test_monitoring_import import SAMPLE, import_files

ADMIN = 4242
ADMIN_EN = 4343
URL = "https://example.org/rss"
ZONES = (
    "ponente, genova, valli_polcevera_scrivia, val_trebbia_alta_val_bisagno, golfo_paradiso, "
    "tigullio, entella, val_petronio, valli_del_levante"
)


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN, ADMIN_EN}))


# ------------------------------------------------------------- reasons given to staff

FEED_ANSWERS = [
    (
        "/feeds add ftp://example.org/rss",
        "Non eseguito: l'indirizzo della fonte deve iniziare con http:// o https:// e "
        "indicare un host: ftp://example.org/rss",
        "Not done: the feed URL must start with http:// or https:// and name a host: "
        "ftp://example.org/rss",
    ),
    (
        f"/feeds add {URL} zone=marte",
        "Non eseguito: zona sconosciuta: marte. Zone disponibili: " + ZONES,
        "Not done: unknown zone: marte. Known zones: " + ZONES,
    ),
    (
        f"/feeds add {URL} strategy=S9",
        "Non eseguito: strategia sconosciuta: S9. Strategie disponibili: S1, S2, S3, S4, S5",
        "Not done: unknown strategy: S9. Known strategies: S1, S2, S3, S4, S5",
    ),
    (
        f"/feeds add {URL} lingua=it",
        "Non eseguito: le opzioni sono zone=ID e strategy=ID",
        "Not done: the options are zone=ID and strategy=ID",
    ),
    (
        "/feeds pause 999",
        "Non eseguito: non esiste la fonte n. 999",
        "Not done: there is no feed #999",
    ),
]


@pytest.mark.usefixtures("running_bot")
@pytest.mark.parametrize(("command", "italian", "english"), FEED_ANSWERS)
async def test_feed_reasons_are_in_the_staff_members_language(sandbox, command, italian, english):
    for user_id, language, expected in ((ADMIN, "it", italian), (ADMIN_EN, "en", english)):
        admin = sandbox.user(user_id, language_code=language)
        await admin.send(command)
        assert admin.last_bot_message.text == expected


@pytest.mark.usefixtures("running_bot")
async def test_a_feed_that_is_already_there_or_paused_is_explained_in_italian(sandbox):
    admin = sandbox.user(ADMIN, language_code="it")
    await admin.send(f"/feeds add {URL}")
    feed_id = admin.last_bot_message.text.removeprefix("Fonte n. ").split(" ")[0]
    await admin.send(f"/feeds add {URL}")
    assert admin.last_bot_message.text == (
        f"Non eseguito: questa fonte è già registrata come n. {feed_id}: {URL}"
    )
    await admin.send(f"/feeds resume {feed_id}")
    assert admin.last_bot_message.text == f"Non eseguito: la fonte n. {feed_id} non è sospesa"
    await admin.send(f"/feeds pause {feed_id}")
    await admin.send(f"/feeds pause {feed_id}")
    assert admin.last_bot_message.text == f"Non eseguito: la fonte n. {feed_id} è già sospesa"


def _feeds_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot")
    subparsers = parser.add_subparsers(dest="command")
    feeds_cli.add_parser(subparsers)
    broadcast_cli.add_parser(subparsers)
    return parser.parse_args(list(argv))


async def test_operators_read_the_same_reasons_in_english(db, settings, capsys):
    code = await feeds_cli.run(_feeds_args("feeds", "add", URL, "--zone", "marte"), settings)
    assert code == 2
    assert capsys.readouterr().err == (
        f"psm-bot feeds: unknown zone: marte. Known zones: {ZONES}\n"
    )


async def test_a_broadcast_to_an_unknown_zone_is_refused(db, settings, capsys):
    args = _feeds_args("broadcast", "--text", "Incontro", "--zone", "marte", "--zone", "genova")
    assert await broadcast_cli.run(args, settings) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "psm-bot broadcast: unknown zone: marte\n")


# ------------------------------------------------------------- menus and /help

ITALIAN_MENU = [
    "start",
    "iscrizioni",
    "piano",
    "eventi",
    "lingua",
    "preferenze",
    "parere",
    "privacy",
    "stop",
    "aiuto",
]
ENGLISH_MENU = [
    "start",
    "mysubs",
    "plan",
    "events",
    "language",
    "preferences",
    "feedback",
    "privacy",
    "stop",
    "help",
]


async def test_each_command_menu_speaks_one_language(running_bot):
    bot = running_bot.bot
    italian = await bot.get_my_commands(language_code="it")
    english = await bot.get_my_commands(language_code="en")
    assert [command.command for command in italian] == ITALIAN_MENU
    assert [command.command for command in english] == ENGLISH_MENU
    assert [command.command for command in await bot.get_my_commands()] == ITALIAN_MENU
    assert italian[1].description == "Cosa seguo"
    assert english[-1].description == "Help"


def _registered_commands(application) -> set[str]:
    return {
        name
        for group in application.handlers.values()
        for handler in group
        for name in getattr(handler, "commands", ())
    }


async def test_every_command_of_both_menus_has_a_handler(running_bot):
    assert set(ITALIAN_MENU + ENGLISH_MENU) <= _registered_commands(running_bot)


@pytest.mark.usefixtures("running_bot")
@pytest.mark.parametrize(
    ("user_id", "language", "command", "menu", "other_menu"),
    [(1001, "it", "/aiuto", ITALIAN_MENU, ENGLISH_MENU), (1002, "en", "/help", ENGLISH_MENU, [])],
)
async def test_help_lists_every_command_of_the_menu_by_its_own_name(
    sandbox, user_id, language, command, menu, other_menu
):
    citizen = sandbox.user(user_id, language_code=language)
    await citizen.send(command)
    text = citizen.last_bot_message.text
    for name in menu:
        assert f"/{name} — " in text
    for name in set(other_menu) - set(menu):
        assert f"/{name} " not in text and f"/{name}\n" not in text


# ------------------------------------------------------------- strategy labels

UNCERTAIN = {"it": "Strategia 5 — titolo da confermare", "en": "Strategy 5 — title to be confirmed"}


def test_the_label_follows_the_uncertain_mark_of_the_data():
    doubtful = Strategy(id="S2", name_it="valorizzare", name_en="enhance", uncertain=True)
    confirmed = Strategy(id="S5", name_it="costruire", name_en="build", uncertain=False)
    with use_locale("it"):
        assert plan.strategy_label(doubtful) == "Strategia 2 — titolo da confermare"
        assert plan.strategy_label(confirmed) == "S5 · Costruire"
        assert plan.strategy_label(confirmed, "en") == "S5 · Build"
    with use_locale("en"):
        assert plan.strategy_label(doubtful) == "Strategy 2 — title to be confirmed"


@pytest.mark.usefixtures("running_bot")
@pytest.mark.parametrize(
    ("user_id", "language", "words"),
    [
        (1001, "it", ("Segui una strategia", "/iscrizioni", "/piano", "/parere", "Una strategia")),
        (1002, "en", ("Follow a strategy", "/mysubs", "/plan", "/feedback", "A strategy")),
    ],
)
async def test_an_uncertain_strategy_is_named_honestly_on_every_screen(
    sandbox, db, user_id, language, words
):
    follow, mysubs, plan_command, feedback, a_strategy = words
    label = UNCERTAIN[language]
    await import_files(db, SAMPLE, notify=False)
    citizen = sandbox.user(user_id, language_code=language)
    await citizen.send("/start")
    await citizen.press(follow)
    screen = citizen.last_bot_message
    assert f"➕ {label}" in labels(screen)
    assert "(*)" not in screen.text and not any("(*)" in text for text in labels(screen))
    assert not any("..." in text for text in labels(screen))

    await citizen.press(f"➕ {label}")
    assert citizen.callback_answers[-1].text.endswith(f": {label}")
    await citizen.send(mysubs)
    assert f"• {label}" in citizen.last_bot_message.text

    await citizen.send(plan_command)
    [button] = [text for text in labels(citizen.last_bot_message) if text.startswith(label)]
    await citizen.press(button)
    assert citizen.last_bot_message.text.startswith(label + "\n")
    [action] = [text for text in labels(citizen.last_bot_message) if "S5.1" in text]
    await citizen.press(action)
    assert f"\n{label}\n" in citizen.last_bot_message.text

    await citizen.send(feedback)
    await citizen.press(a_strategy)
    assert label in labels(citizen.last_bot_message)


# ------------------------------------------------------------- the Italian catalog


def _italian_messages() -> list[str]:
    """The Italian of every message the code asks for."""
    used = source_messages()
    strings = []
    for message in catalog("it"):
        key = message.id if isinstance(message.id, str) else tuple(message.id)
        if key in used:
            strings += [message.string] if isinstance(message.string, str) else message.string
    return strings


def test_italian_messages_name_the_citizens_commands_by_their_italian_names():
    from bot.screens.following import COMMANDS

    english_only = {f"/{c.english}" for c in COMMANDS if c.english != c.italian}
    offenders = [
        text
        for text in _italian_messages()
        for name in english_only
        if re.search(re.escape(name) + r"\b", text)
    ]
    assert offenders == []


def test_italian_messages_say_fonte_and_address_everyone():
    texts = _italian_messages()
    assert [
        t for t in texts if re.search(r"\bfeed\b", re.sub(r"<code>.*?</code>", "", t), re.I)
    ] == []
    assert [
        t
        for t in texts
        if re.search(r"\bBenvenut[oa] (nello|nella|in|a)\b|\bCittadino/a\b|l'autore\b", t)
    ] == []
    assert [t for t in texts if "Ore di silenzio" in t or "ora di silenzio" in t] == []
    assert [t for t in texts if "bloccato il bot {blocked}" in t or "{blocked} hanno" in t] == []
