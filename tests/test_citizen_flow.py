"""A citizen talks to the real bot over HTTP through the Bot API stand-in, on both databases."""

import pytest
from sqlalchemy import select

from bot.db.models import Subscriber, TargetKind
from bot.services import subscriptions
from tests.conftest import eventually

pytestmark = pytest.mark.usefixtures("running_bot")


def labels(entry) -> list[str]:
    return [label for row in entry.buttons for label, _data in row]


async def followed(db, user_id: int, kind: TargetKind) -> set[str]:
    async with db.transaction() as session:
        subscriber = await subscriptions.get_subscriber(session, user_id)
        return await subscriptions.followed_ids(session, subscriber, kind)


async def stored_subscriber(db, user_id: int) -> Subscriber | None:
    async with db.transaction() as session:
        return await session.scalar(
            select(Subscriber).where(Subscriber.telegram_user_id == user_id)
        )


async def test_start_greets_in_italian_and_offers_language_and_subscription(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    greeting = anna.last_bot_message
    assert "Ti diamo il benvenuto, Anna!" in greeting.text
    assert "Piano Strategico Metropolitano" in greeting.text
    assert labels(greeting) == [
        "Segui una strategia",
        "Segui una zona o un comune",
        "Cosa seguo",
        "⚙️ Come ricevo gli aggiornamenti",
        "🇮🇹 Italiano",
        "🇬🇧 English",
    ]
    subscriber = await stored_subscriber(db, 1001)
    assert (subscriber.language, subscriber.active) == ("it", True)


@pytest.mark.parametrize(
    ("client_language", "expected"),
    [("en", "Welcome, Ben!"), ("de", "Ti diamo il benvenuto, Ben!")],
)
async def test_greeting_follows_the_client_language_or_defaults_to_italian(
    sandbox, client_language, expected
):
    ben = sandbox.user(1002, first_name="Ben", language_code=client_language)
    await ben.send("/start")
    assert expected in ben.last_bot_message.text


async def test_returning_user_is_welcomed_back(sandbox):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    await anna.send("/start")
    assert "Che piacere rivederti, Anna!" in anna.last_bot_message.text


async def test_user_names_are_escaped_not_interpreted(sandbox):
    mallory = sandbox.user(1003, first_name="<b>Mal</b> & co", language_code="en")
    await mallory.send("/start")
    assert "Welcome, <b>Mal</b> & co!" in mallory.last_bot_message.text


async def test_follow_and_unfollow_a_strategy_with_buttons(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    await anna.press("Segui una strategia")
    assert "Le strategie del Piano" in anna.last_bot_message.text
    assert "➕ Strategia 5 — titolo da confermare" in labels(anna.last_bot_message)
    await anna.press("➕ S4 · Adattarci ai cambiamenti climatici")
    assert anna.callback_answers[-1].text == "Ora segui: S4 · Adattarci ai cambiamenti climatici"
    assert "✅ S4 · Adattarci ai cambiamenti climatici" in labels(anna.last_bot_message)
    assert await followed(db, 1001, TargetKind.STRATEGY) == {"S4"}

    await anna.press("✅ S4 · Adattarci ai cambiamenti climatici")
    assert (
        anna.callback_answers[-1].text == "Non segui più: S4 · Adattarci ai cambiamenti climatici"
    )
    assert await followed(db, 1001, TargetKind.STRATEGY) == set()


async def test_follow_a_whole_zone_and_single_comuni(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    await anna.press("Segui una zona o un comune")
    assert "Le 9 zone dell'area metropolitana" in anna.last_bot_message.text
    await anna.press("Tigullio")
    zone_page = anna.last_bot_message
    assert "Tigullio" in zone_page.text and "da Portofino a Zoagli" in zone_page.text
    assert {"➕ Portofino", "➕ Rapallo", "➕ Santa Margherita Ligure", "➕ Zoagli"} <= set(
        labels(zone_page)
    )
    await anna.press("➕ Rapallo")
    await anna.press("➕ Tutta la zona: Tigullio")
    assert await followed(db, 1001, TargetKind.ZONE) == {"tigullio"}
    assert await followed(db, 1001, TargetKind.COMUNE) == {"010046"}
    assert {"✅ Tutta la zona: Tigullio", "✅ Rapallo"} <= set(labels(anna.last_bot_message))

    await anna.press("⬅️ Zone")
    assert "✅ Tigullio" in labels(anna.last_bot_message)


async def test_uncertain_zone_membership_is_shown_as_not_confirmed(sandbox):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    await anna.press("Segui una zona o un comune")
    await anna.press("Entella")
    assert "non è ancora confermato" in anna.last_bot_message.text


async def test_mysubs_lists_what_i_follow_and_stops_following_from_there(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start strategy_S1")
    await anna.send("/start zone_genova")
    await anna.send("/mysubs")
    listing = anna.last_bot_message
    assert "Cosa segui" in listing.text
    assert "Strategie" in listing.text and "Coordinare il cambiamento" in listing.text
    assert "Zone" in listing.text and "Genova" in listing.text
    await anna.press("❌ Smetti di seguire Genova")
    assert "Genova" not in anna.last_bot_message.text
    assert await followed(db, 1001, TargetKind.ZONE) == set()
    assert await followed(db, 1001, TargetKind.STRATEGY) == {"S1"}


async def test_mysubs_when_following_nothing_offers_the_menu(sandbox):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await ben.send("/mysubs")
    assert "You are not following anything yet." in ben.last_bot_message.text
    assert "Follow a strategy" in labels(ben.last_bot_message)


@pytest.mark.parametrize(
    ("payload", "kind", "target_id", "name"),
    [
        ("zone_tigullio", TargetKind.ZONE, "tigullio", "Tigullio"),
        ("strategy_S4", TargetKind.STRATEGY, "S4", "S4 · Adapt to climate change"),
        ("comune_010046", TargetKind.COMUNE, "010046", "Rapallo"),
    ],
)
async def test_deep_links_subscribe_directly(sandbox, db, payload, kind, target_id, name):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    replies = await ben.send(f"/start {payload}")
    texts = [entry.text for entry in replies if entry.kind == "bot_message"]
    assert f"Done: you now follow {name}." in texts[0]
    assert "Welcome, Ben!" in texts[1]
    assert await followed(db, 1002, kind) == {target_id}

    replies = await ben.send(f"/start {payload}")
    assert f"You already follow {name}." in replies[0].text
    assert await followed(db, 1002, kind) == {target_id}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("qrcode_42", "This link is not valid."),
        ("zone_atlantide", "This link points to something that no longer exists."),
        ("strategy_S9", "This link points to something that no longer exists."),
    ],
)
async def test_bad_deep_links_are_explained_and_still_greet(sandbox, db, payload, message):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    replies = await ben.send(f"/start {payload}")
    texts = [entry.text for entry in replies if entry.kind == "bot_message"]
    assert message in texts[0]
    assert "Welcome, Ben!" in texts[1]
    async with db.transaction() as session:
        subscriber = await subscriptions.get_subscriber(session, 1002)
        assert await subscriptions.list_followed(session, subscriber) == []


async def test_language_can_be_changed_and_sticks(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/language")
    assert "Scegli la lingua:" in anna.last_bot_message.text
    await anna.press("🇬🇧 English")
    assert anna.last_bot_message.text.startswith("Language set.")
    assert "Follow a strategy" in labels(anna.last_bot_message)
    assert (await stored_subscriber(db, 1001)).language == "en"
    await anna.send("/help")
    assert "/mysubs — what I follow" in anna.last_bot_message.text

    # The chat's own command menu now speaks English too.
    chat_menus = [
        params
        for method, params, *_ in sandbox.calls
        if method == "setMyCommands"
        and '"chat_id": 1001' in str(params.get("scope", "")).replace("'", '"')
    ]
    assert chat_menus and "What I follow" in str(chat_menus[-1]["commands"])


async def test_command_menus_are_published_per_language(running_bot):
    bot = running_bot.bot
    italian = await bot.get_my_commands(language_code="it")
    english = await bot.get_my_commands(language_code="en")
    default = await bot.get_my_commands()
    assert [c.command for c in italian] == [
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
    assert italian[1].description == "Cosa seguo"
    assert english[1].description == "What I follow"
    assert default[1].description == "Cosa seguo"  # DEFAULT_LANGUAGE is Italian
    assert [c.command for c in english][2:4] == ["plan", "events"]


async def test_stop_asks_for_confirmation_and_can_be_cancelled(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start zone_genova")
    await anna.send("/stop")
    assert "Vuoi smettere di seguire tutto?" in anna.last_bot_message.text
    await anna.press("No, mantieni le mie iscrizioni")
    assert "non è cambiato nulla" in anna.last_bot_message.text
    assert anna.last_bot_message.buttons == []
    assert await followed(db, 1001, TargetKind.ZONE) == {"genova"}


async def test_stop_confirmed_removes_everything_and_a_second_tap_is_harmless(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start zone_genova")
    await anna.send("/start strategy_S2")
    await anna.send("/stop")
    confirmation = anna.last_bot_message
    await anna.press("Sì, smetti di seguire tutto")
    assert "Fatto: non segui più nulla (2 iscrizioni rimosse)" in anna.last_bot_message.text
    assert await followed(db, 1001, TargetKind.ZONE) == set()
    assert await followed(db, 1001, TargetKind.STRATEGY) == set()

    await anna.press_data("stop:yes", message_id=confirmation.message_id)
    assert "Non seguivi nulla" in anna.last_bot_message.text


async def test_repeated_taps_on_a_stale_button_change_nothing(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    await anna.press("Segui una strategia")
    menu = anna.last_bot_message
    follow_s3 = next(data for row in menu.buttons for label, data in row if "S3" in label)
    await anna.press_data(follow_s3, message_id=menu.message_id)
    edits_before = sandbox.count("editMessageText")
    await anna.press_data(follow_s3, message_id=menu.message_id)
    assert anna.callback_answers[-1].text == "Segui già: S3 · Ottimizzare i servizi"
    assert sandbox.count("editMessageText") == edits_before  # nothing to redraw
    assert await followed(db, 1001, TargetKind.STRATEGY) == {"S3"}


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        ("f:s:S9:s", "Questa voce non esiste più."),
        ("zone:atlantide", "Questa voce non esiste più."),
        ("admin:drop_all", "Questo pulsante non è più valido."),
        ("f:c:010025", "Questo pulsante non è più valido."),
    ],
)
async def test_forged_buttons_get_a_polite_answer_and_change_nothing(sandbox, db, data, answer):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    await anna.press_data(data, message_id=anna.last_bot_message.message_id)
    assert anna.callback_answers[-1].text == answer
    async with db.transaction() as session:
        subscriber = await subscriptions.get_subscriber(session, 1001)
        assert await subscriptions.list_followed(session, subscriber) == []


async def test_a_user_who_blocks_the_bot_is_marked_inactive_and_back_on_return(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start zone_genova")
    anna.block()

    async def inactive():
        return not (await stored_subscriber(db, 1001)).active

    assert await eventually(inactive)
    anna.unblock()

    async def active():
        return (await stored_subscriber(db, 1001)).active

    assert await eventually(active)
    assert await followed(db, 1001, TargetKind.ZONE) == {"genova"}


async def test_unknown_commands_and_free_text_get_guidance(sandbox):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await ben.send("/frobnicate")
    assert "I don't know this command. /help lists what I can do." in ben.last_bot_message.text
    await ben.send("hello, is anyone there?")
    assert "Use the buttons below or /help." in ben.last_bot_message.text
    assert "Follow a strategy" in labels(ben.last_bot_message)


async def test_help_lists_the_commands(sandbox):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/help")
    text = anna.last_bot_message.text
    for command in ("/start", "/iscrizioni", "/lingua", "/stop", "/aiuto"):
        assert command in text


async def test_preferences_choose_a_daily_digest_and_quiet_hours(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    await anna.press("⚙️ Come ricevo gli aggiornamenti")
    assert "Ricevi: ogni aggiornamento appena pubblicato." in anna.last_bot_message.text
    assert (
        "Fascia di silenzio (nessuna notifica; gli aggiornamenti arrivano al termine): nessuna."
        in anna.last_bot_message.text
    )
    await anna.press("Riepilogo giornaliero")
    assert "un riepilogo giornaliero alle 08:00" in anna.last_bot_message.text
    await anna.press("18:00")
    await anna.press("🌙 22:00–07:00")
    assert anna.callback_answers[-1].text == "Salvato."
    text = anna.last_bot_message.text
    assert "un riepilogo giornaliero alle 18:00" in text and "22:00–07:00" in text
    subscriber = await stored_subscriber(db, 1001)
    assert (subscriber.delivery_mode, subscriber.digest_hour) == ("daily", 18)
    assert (subscriber.quiet_start, subscriber.quiet_end) == (22, 7)


async def test_weekly_digest_in_english_names_the_day(sandbox, db):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await ben.send("/preferences")
    await ben.press("Weekly digest")
    await ben.press("Friday")
    assert "a weekly digest on Friday at 8:00\u202fAM" in ben.last_bot_message.text
    subscriber = await stored_subscriber(db, 1002)
    assert (subscriber.delivery_mode, subscriber.digest_weekday) == ("weekly", 4)


@pytest.mark.parametrize(
    "data", ["pref:hour:3", "pref:quiet:1-2", "pref:mode:hourly", "pref:day:9"]
)
async def test_forged_preferences_are_refused(sandbox, db, data):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/preferences")
    await anna.press_data(data, message_id=anna.last_bot_message.message_id)
    assert anna.callback_answers[-1].text == "Questo pulsante non è più valido."
    subscriber = await stored_subscriber(db, 1001)
    assert (subscriber.delivery_mode, subscriber.digest_hour, subscriber.quiet_start) == (
        "instant",
        8,
        None,
    )
