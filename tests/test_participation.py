"""Feedback becomes entries of the plan's participation record, with consent, end to end."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace

import pytest
from sqlalchemy import select

from bot.app import build_sender
from bot.db.models import FeedbackPrompt
from bot.services import outbox, record
from bot.services.record import Format, RecordFilter
from tests.record_helpers import (
    FAST,
    GENOVA,
    S4,
    TIGULLIO,
    consenting,
    deliver,
    delivery_of,
    entries,
    follower,
    news,
    participant,
    subscriber_row,
)

pytestmark = pytest.mark.usefixtures("running_bot")

AGREE = "✅ Sono d'accordo"
REFERENCE = re.compile(r"P-\d{4}-\d{5}")


async def exported_rows(db, record_filter: RecordFilter | None = None) -> list[dict]:
    async with db.transaction() as session:
        rows = await record.select_entries(session, record_filter or RecordFilter())
    content = record.export(rows, Format.CSV).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(content), delimiter=";"))


async def test_a_reply_to_a_notification_lands_in_the_export_linked_to_its_subject(
    settings, db, sandbox
):
    anna = await follower(db, sandbox, 1001, TIGULLIO)
    (notification_id,) = await deliver(settings, db, sandbox, news("n1", TIGULLIO, S4))
    notification = anna.last_bot_message
    await consenting(anna)

    await anna.reply("Servono più corse serali dei bus 🚌", to=notification.message_id)

    ack = anna.last_bot_message.text
    assert "Registrato nel registro della partecipazione del Piano come P-" in ack
    assert "Nuovo bando per il Tigullio" in ack
    (row,) = await exported_rows(db)
    assert REFERENCE.fullmatch(row["reference"]) and row["reference"] in ack
    assert row["kind"] == "comment"
    assert row["text"] == "Servono più corse serali dei bus 🚌"
    assert (row["subject_kind"], row["subject_id"]) == ("news", str(notification_id))
    assert row["notification_id"] == str(notification_id)
    assert row["subject_label"] == "Nuovo bando per il Tigullio"
    assert row["tags"] == "strategy:S4;zone:tigullio"
    assert row["language"] == "it" and row["moderation"] == "visible"
    # A pseudonym, never the Telegram id.
    pseudonym = (await participant(db, 1001)).pseudonym
    assert row["participant"] == pseudonym and "1001" not in pseudonym
    assert await exported_rows(db, RecordFilter(strategy="S4")) == [row]
    assert await exported_rows(db, RecordFilter(zone="tigullio")) == [row]
    assert await exported_rows(db, RecordFilter(strategy="S1")) == []


async def test_first_reaction_is_counted_anonymously_and_asks_for_consent_once(
    settings, db, sandbox
):
    anna = await follower(db, sandbox, 1001, GENOVA)
    await deliver(settings, db, sandbox, news("n1", GENOVA), news("n2", GENOVA, title="Altro"))
    first, second = anna.bot_messages[-2:]

    await anna.press("👍 Utile", message_id=first.message_id)
    assert anna.callback_answers[-1].text.startswith("Grazie per il tuo parere! Riferimento P-")
    assert "registro della partecipazione" in anna.last_bot_message.text
    assert anna.last_bot_message.labels == [AGREE, "No, grazie"]
    (entry,) = await entries(db)
    assert (entry.kind, entry.value, entry.participant_id) == ("reaction", "useful", None)

    # Changing the answer updates the same entry; its reference does not change.
    await anna.press("👎 Non utile", message_id=first.message_id)
    assert anna.callback_answers[-1].text == f"Parere modificato. Riferimento {entry.reference}"
    (changed,) = await entries(db)
    assert (changed.reference, changed.value) == (entry.reference, "not_useful")

    await anna.press(AGREE)
    assert "da ora i tuoi contributi entrano nel registro" in anna.last_bot_message.text
    messages_before = len(anna.bot_messages)
    await anna.press("👍 Utile", message_id=second.message_id)
    assert len(anna.bot_messages) == messages_before  # no second consent question
    linked = (await entries(db))[-1]
    assert linked.participant_id == (await participant(db, 1001)).id
    assert linked.reference != entry.reference


async def test_comment_button_asks_consent_first_then_takes_the_reply_to_the_prompt(
    settings, db, sandbox
):
    anna = await follower(db, sandbox, 1001, GENOVA)
    (notification_id,) = await deliver(settings, db, sandbox, news("n1", GENOVA))
    await anna.press("💬 Commenta")
    assert AGREE in anna.last_bot_message.labels
    await anna.press(AGREE)
    prompt = anna.last_bot_message
    assert "Scrivi il tuo commento su Nuovo bando per il Tigullio" in prompt.text

    await anna.reply("Ottima iniziativa", to=prompt.message_id)
    assert "come P-" in anna.last_bot_message.text
    (entry,) = await entries(db)
    assert (entry.kind, entry.text, entry.notification_id) == (
        "comment",
        "Ottima iniziativa",
        notification_id,
    )


async def test_after_the_comment_button_plain_text_is_the_comment(settings, db, sandbox):
    anna = await follower(db, sandbox, 1001, GENOVA)
    await consenting(anna)
    await deliver(settings, db, sandbox, news("n1", GENOVA))
    await anna.press("💬 Commenta")
    await anna.send("Ci sarò all'incontro")
    (entry,) = await entries(db)
    assert entry.text == "Ci sarò all'incontro" and entry.subject_kind == "news"
    # The question is answered: the next free text is not taken as a comment.
    await anna.send("ciao")
    assert "Non ho registrato questo messaggio" in anna.last_bot_message.text
    assert len(await entries(db)) == 1


async def test_without_consent_a_reply_is_not_stored_and_consent_brings_back_the_subject(
    settings, db, sandbox
):
    anna = await follower(db, sandbox, 1001, GENOVA)
    await deliver(settings, db, sandbox, news("n1", GENOVA))
    notification = anna.last_bot_message

    await anna.reply("Il mio parere riservato", to=notification.message_id)
    assert "non è stato conservato" in anna.last_bot_message.text
    assert await entries(db) == []

    await anna.press(AGREE)
    prompt = anna.last_bot_message
    assert "Nuovo bando per il Tigullio" in prompt.text
    await anna.reply("Il mio parere, con consenso", to=prompt.message_id)
    (entry,) = await entries(db)
    assert entry.text == "Il mio parere, con consenso" and entry.kind == "comment"


async def test_refused_consent_keeps_comments_out_and_says_so(settings, db, sandbox):
    anna = await follower(db, sandbox, 1001, GENOVA)
    await deliver(settings, db, sandbox, news("n1", GENOVA))
    notification = anna.last_bot_message
    await anna.press("👍 Utile")
    await anna.press("No, grazie")
    assert "non verrà registrato nulla di personale" in anna.last_bot_message.text

    await anna.reply("Un commento", to=notification.message_id)
    assert "Hai scelto di non far registrare" in anna.last_bot_message.text
    assert AGREE in anna.last_bot_message.labels
    (reaction,) = await entries(db)
    assert reaction.kind == "reaction" and reaction.participant_id is None
    assert (await participant(db, 1001)).consent == "refused"


async def test_feedback_command_records_an_opinion_on_a_chosen_strategy(db, sandbox):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await consenting(ben)
    await ben.send("/feedback")
    await ben.press("A strategy")
    await ben.press("S4 · Adapt to climate change")
    await ben.send("More shade trees in the squares, please.")
    assert "about: S4 · Adapt to climate change" in ben.last_bot_message.text
    (entry,) = await entries(db)
    assert (entry.kind, entry.subject_kind, entry.subject_id) == ("feedback", "strategy", "S4")
    assert entry.language == "en"
    assert entry.subject_label.startswith("S4 · ")
    assert [(t.target_kind, t.target_id) for t in entry.tags] == [("strategy", "S4")]

    await ben.send("/parere")
    await ben.press("The plan in general")
    await ben.send("Keep going!")
    assert (await entries(db))[-1].subject_kind == "plan"


async def test_a_reply_to_any_other_bot_message_is_free_feedback_without_subject(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await consenting(anna)
    await anna.send("/help")
    await anna.reply("Il bot è utile", to=anna.last_bot_message.message_id)
    assert "come parere generale" in anna.last_bot_message.text
    (entry,) = await entries(db)
    assert (entry.kind, entry.subject_kind, entry.notification_id) == ("free", None, None)


async def test_a_reply_to_a_digest_is_about_all_its_notifications(settings, db, sandbox):
    anna = await follower(db, sandbox, 1001, GENOVA, TIGULLIO)
    ids = []
    async with db.transaction() as session:
        for item in (news("a", GENOVA), news("b", TIGULLIO, title="Secondo")):
            notification, _ = await outbox.enqueue(session, item)
            ids.append(notification.id)
    sender = build_sender(
        settings, db, base_url=sandbox.base_url, config=replace(FAST, group_above=1)
    )
    async with sender.bot:
        await sender.run_until_idle(wait_s=2.0)
    await consenting(anna)
    digest = next(m for m in anna.bot_messages if "2 nuovi aggiornamenti" in (m.text or ""))
    await anna.reply("Entrambe interessanti", to=digest.message_id)
    (entry,) = await entries(db)
    assert entry.subject_kind == "digest" and entry.subject_id == ",".join(map(str, ids))
    assert {(t.target_kind, t.target_id) for t in entry.tags} == {GENOVA, TIGULLIO}


async def test_references_are_unique_and_numbered_by_year(settings, db, sandbox):
    anna = await follower(db, sandbox, 1001, GENOVA)
    await consenting(anna)
    await anna.send("/feedback")
    await anna.press("Il Piano in generale")
    for text in ("uno", "due"):
        await anna.reply(text, to=anna.bot_messages[-1].message_id)
    references = [entry.reference for entry in await entries(db)]
    year = references[0][2:6]
    assert references == [f"P-{year}-00001", f"P-{year}-00002"]


async def test_privacy_notice_names_controller_purpose_rights_and_contact(sandbox, db):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await ben.send("/privacy")
    text = ben.last_bot_message.text
    for expected in (
        "Controller: Città Metropolitana di Genova",
        "annual monitoring report",
        "/mydata",
        "/forget",
        "without any link to you",
        "pianificazione.strategica@cittametropolitana.genova.it",
        "Your consent: not asked yet.",
    ):
        assert expected in text
    await ben.press("✅ I agree")
    await ben.send("/privacy")
    assert "Your consent: given." in ben.last_bot_message.text
    await ben.press("Withdraw my consent")
    assert "Consent withdrawn" in ben.last_bot_message.text
    assert (await participant(db, 1002)).consent == "refused"


async def test_profile_category_organisation_and_comune_are_copied_onto_entries(db, sandbox):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/profile")
    assert AGREE in anna.last_bot_message.labels  # consent first
    await anna.press(AGREE)
    await anna.send("/profilo")
    await anna.press("Categoria")
    await anna.press("Associazione")
    assert "Categoria: Associazione" in anna.last_bot_message.text
    await anna.press("Organizzazione")
    await anna.reply("<b>Amici</b> del Tigullio & co", to=anna.last_bot_message.message_id)
    assert "Organizzazione: <b>Amici</b> del Tigullio & co" in anna.last_bot_message.text
    await anna.press("Comune")
    await anna.send("Atlantide")
    assert "Non trovo questo comune" in anna.last_bot_message.text
    await anna.send("rapallo")
    assert "Comune: Rapallo" in anna.last_bot_message.text

    await anna.send("/feedback")
    await anna.press("Una zona")
    await anna.press("Tigullio")
    await anna.send("Più piste ciclabili")
    (entry,) = await entries(db)
    assert (entry.participant_category, entry.participant_organisation) == (
        "association",
        "<b>Amici</b> del Tigullio & co",
    )
    assert (entry.participant_comune, entry.participant_zone) == ("010046", "tigullio")
    assert entry.organisation_verified is False


@pytest.mark.parametrize(
    ("typed", "comune"),
    [
        ("Sant’Olcese", "Sant'Olcese"),  # the apostrophe an iPhone types
        ("sant'olcese", "Sant'Olcese"),
        ("  Sant`Olcese ", "Sant'Olcese"),
        ("Serra Ricco", "Serra Riccò"),  # a keyboard without accents
        ("Serrà  Riccò", "Serra Riccò"),
    ],
)
async def test_profile_finds_a_comune_however_its_name_is_typed(db, sandbox, typed, comune):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await consenting(anna)
    await anna.send("/profilo")
    await anna.press("Comune")
    await anna.send(typed)
    assert f"Comune: {comune}" in anna.last_bot_message.text
    assert (await participant(db, 1001)).comune_istat is not None


async def test_mydata_sends_everything_stored_as_a_json_file(settings, db, sandbox):
    anna = await follower(db, sandbox, 1001, GENOVA)
    await deliver(settings, db, sandbox, news("n1", GENOVA))
    await consenting(anna)
    await anna.reply("Un commento", to=anna.bot_messages[0].message_id)
    await anna.send("/mydata")
    document = anna.last_bot_message
    assert document.kind == "document" and document.file_name == "psm-bot-my-data.json"
    data = json.loads(document.file_bytes)
    assert data["subscriber"]["telegram_user_id"] == 1001
    assert [(s["target_kind"], s["target_id"]) for s in data["subscriptions"]] == [GENOVA]
    assert data["participant"]["consent"] == "given"
    assert [e["text"] for e in data["record_entries"]] == ["Un commento"]
    assert data["deliveries"]["by_state"] == {"sent": 1}
    assert data["contact"] == "pianificazione.strategica@cittametropolitana.genova.it"


async def test_forget_erases_the_person_and_keeps_anonymous_entries(settings, db, sandbox):
    anna = await follower(db, sandbox, 1001, GENOVA)
    await deliver(settings, db, sandbox, news("n1", GENOVA))
    notification = anna.last_bot_message
    await anna.press("👍 Utile")
    await anna.press(AGREE)
    await anna.send("/profile")
    await anna.press("Categoria")
    await anna.press("Cittadina o cittadino")
    await anna.reply("Testo che resta", to=notification.message_id)

    await anna.send("/forget")
    assert "Vuoi cancellare i tuoi dati?" in anna.last_bot_message.text
    await anna.press("No, conservali")
    assert await participant(db, 1001) is not None
    await anna.send("/dimenticami")
    await anna.press("Sì, cancella i miei dati")
    assert "2 contributi restano nel registro" in anna.last_bot_message.text

    assert await subscriber_row(db, 1001) is None
    assert await participant(db, 1001) is None
    kept = await entries(db)
    assert [e.kind for e in kept] == ["reaction", "comment"]
    for entry in kept:
        assert entry.participant_id is None and entry.delivery_id is None
        assert entry.participant_category is None and entry.participant_comune is None
    assert kept[1].text == "Testo che resta" and kept[1].subject_kind == "news"
    assert {row["participant"] for row in await exported_rows(db)} == {""}
    # The person can come back as someone new.
    await anna.send("/start")
    assert "Ti diamo il benvenuto, Anna!" in anna.last_bot_message.text


async def test_forget_when_nothing_was_recorded(sandbox, db):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await ben.send("/forget")
    await ben.press("Yes, erase my data")
    assert "0 contributions stay in the record" in ben.last_bot_message.text


# --- bad input ------------------------------------------------------------------


async def test_a_very_long_text_is_capped_and_the_user_told(sandbox, db):
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await consenting(ben)
    await ben.send("/feedback")
    await ben.press("The plan in general")
    await ben.send("x" * 3990 + " end")
    assert "only its first 2,000 characters were kept" in ben.last_bot_message.text
    (entry,) = await entries(db)
    assert len(entry.text) == 2000 and entry.text_truncated is True


async def test_media_are_not_recorded_and_the_user_is_told(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await consenting(anna)
    await anna.send_photo(caption="la piazza")
    assert "posso registrare solo testo" in anna.last_bot_message.text
    await anna.send_document("proposta.pdf", b"%PDF-1.4 fake")
    assert "posso registrare solo testo" in anna.last_bot_message.text
    assert await entries(db) == []


async def test_forwarded_messages_are_not_taken_as_the_users_opinion(sandbox, db):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await consenting(anna)
    await anna.forward_text("Opinione di qualcun altro", from_chat=-1001234, from_chat_title="Ch")
    assert "messaggio inoltrato" in anna.last_bot_message.text
    assert await entries(db) == []


@pytest.mark.parametrize(
    "data",
    ["cn:y:abc", "cn:maybe", "fbs:s:S99", "fbs:x:S1", "pf:cat:king", "pf:org:x", "fg:maybe"],
)
async def test_forged_participation_buttons_change_nothing(sandbox, db, data):
    anna = sandbox.user(1001, first_name="Anna", language_code="it")
    await anna.send("/start")
    await anna.press_data(data, message_id=anna.last_bot_message.message_id)
    assert anna.callback_answers[-1].text in (
        "Questo pulsante non è più valido.",
        "Questa voce non esiste più.",
    )
    assert await entries(db) == []
    assert await participant(db, 1001) is None


async def test_someone_elses_prompt_or_comment_button_cannot_be_used(settings, db, sandbox):
    anna = await follower(db, sandbox, 1001, GENOVA)
    ben = await follower(db, sandbox, 1002, GENOVA, name="Ben")
    await deliver(settings, db, sandbox, news("n1", GENOVA))
    annas = await delivery_of(db, 1001)
    await ben.press_data(f"fb:{annas.id}:c", message_id=ben.last_bot_message.message_id)
    assert ben.callback_answers[-1].text == "Questo pulsante non è più valido."
    await consenting(anna)
    await anna.press("💬 Commenta")
    async with db.transaction() as session:
        annas_prompt = await session.scalar(select(FeedbackPrompt.id))
    # Ben forges the continuation of Anna's question: he gets no prompt of hers.
    await ben.send("/privacy")
    await ben.press_data(f"cn:y:{annas_prompt}", message_id=ben.last_bot_message.message_id)
    assert "Scrivi il tuo commento" not in ben.last_bot_message.text
    assert await entries(db) == []
