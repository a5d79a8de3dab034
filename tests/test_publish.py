"""Staff publish entries of the participation record for the public pages: /publish, /unpublish."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest
from sqlalchemy import select

from bot.db.models import EntryKind, StaffAction, TargetKind
from bot.services import record
from bot.services.record import PublishedEntry
from tests.record_helpers import (
    TIGULLIO,
    consenting,
    deliver,
    entries,
    follower,
    news,
    participant,
)

ADMIN = 4242
ACTION = (TargetKind.ACTION, "A1")
S1 = (TargetKind.STRATEGY, "S1")


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


@pytest.fixture
async def comment(settings, db, sandbox, running_bot):
    """Anna comments on (and likes) a Tigullio notification about action A1 of strategy S1."""
    anna = await follower(db, sandbox, 1001, TIGULLIO)
    await deliver(settings, db, sandbox, news("n1", TIGULLIO, ACTION, S1))
    notification = anna.last_bot_message
    await consenting(anna)
    await anna.reply("Servono più corse <b>serali</b>", to=notification.message_id)
    await anna.press("👍 Utile", message_id=notification.message_id)
    return anna


def office(sandbox):
    return sandbox.user(ADMIN, first_name="Ufficio", language_code="it")


async def entry_of(db, kind: EntryKind):
    return next(e for e in await entries(db) if e.kind == kind)


async def published(db, **filters) -> list[PublishedEntry]:
    async with db.transaction() as session:
        return await record.published_entries(session, **filters)


async def audit_rows(db) -> list[StaffAction]:
    async with db.transaction() as session:
        return list(await session.scalars(select(StaffAction).order_by(StaffAction.id)))


async def test_nothing_is_public_until_staff_publish(db, comment):
    assert await published(db) == []


async def test_staff_publish_an_entry_with_the_office_answer_and_never_its_author(
    sandbox, db, comment
):
    entry = await entry_of(db, EntryKind.COMMENT)
    staff = office(sandbox)
    await staff.send(f"/publish {entry.reference.lower()} Dal 1° marzo due corse in più.\nGrazie")
    text = staff.last_bot_message.text
    assert f"Il contributo {entry.reference} ora è pubblicato sulle pagine pubbliche" in text
    assert "La risposta compare solo sulle pagine pubbliche" in text

    (shown,) = await published(db)
    assert shown.reference == entry.reference and shown.at == entry.created_at
    assert shown.text == "Servono più corse <b>serali</b>"  # as typed: the page escapes it
    assert shown.answer == "Dal 1° marzo due corse in più.\nGrazie" and shown.answered_at
    assert (shown.action_code, shown.strategy_id, shown.zone_id) == ("A1", "S1", "tigullio")
    assert PublishedEntry.__dataclass_fields__.keys() == {
        "reference",
        "at",
        "text",
        "answer",
        "answered_at",
        "action_code",
        "strategy_id",
        "zone_id",
    }
    pseudonym = (await participant(db, 1001)).pseudonym
    assert pseudonym not in repr(shown) and "1001" not in repr(shown)
    assert await published(db, action_code="A1") == [shown]
    assert await published(db, action_code="A2") == []

    # The answer is the entry's staff reply, the one /answer fills: one place, in the export too.
    await staff.send("/export csv")
    content = staff.last_bot_message.file_bytes.decode("utf-8-sig")
    rows = {row["reference"]: row for row in csv.DictReader(io.StringIO(content), delimiter=";")}
    assert rows[entry.reference]["published"] == "yes"
    assert rows[entry.reference]["published_at"]
    assert rows[entry.reference]["staff_reply"].startswith("Dal 1° marzo")
    reaction = await entry_of(db, EntryKind.REACTION)
    assert rows[reaction.reference]["published"] == "no"

    (action,) = await audit_rows(db)
    assert (action.actor_id, action.action) == (ADMIN, "record_publish")
    assert action.details == {"reference": entry.reference, "with_answer": True}


async def test_an_answer_sent_with_answer_is_shown_when_published(sandbox, db, comment):
    anna = comment
    entry = await entry_of(db, EntryKind.COMMENT)
    staff = office(sandbox)
    await staff.send(f"/answer {entry.reference} Ne parliamo in giunta")
    assert "Ne parliamo in giunta" in anna.last_bot_message.text
    await staff.send(f"/publish {entry.reference}")
    assert "ora è pubblicato" in staff.last_bot_message.text
    assert "La risposta compare solo" not in staff.last_bot_message.text
    (shown,) = await published(db)
    assert shown.answer == "Ne parliamo in giunta"

    await staff.send(f"/publish {entry.reference}")
    assert f"Il contributo {entry.reference} è già pubblicato" in staff.last_bot_message.text
    await staff.send(f"/publish {entry.reference} Approvato in giunta")
    assert "ora vi compare la nuova risposta" in staff.last_bot_message.text
    (shown,) = await published(db)
    assert shown.answer == "Approvato in giunta"


async def test_only_texts_of_consenting_authors_can_be_published(sandbox, db, comment):
    staff = office(sandbox)
    reaction = await entry_of(db, EntryKind.REACTION)
    await staff.send(f"/publish {reaction.reference}")
    assert "non ha un testo da pubblicare: è una reazione" in staff.last_bot_message.text
    await staff.send("/publish P-1999-00001")
    assert "Non esiste il contributo P-1999-00001." in staff.last_bot_message.text
    await staff.send("/publish")
    assert "Uso: /publish P-2026-00042" in staff.last_bot_message.text

    entry = await entry_of(db, EntryKind.COMMENT)
    await staff.send(f"/hide {entry.reference} fuori tema")
    await staff.send(f"/publish {entry.reference}")
    assert "è nascosto e non si può pubblicare" in staff.last_bot_message.text

    anna = comment
    await staff.send(f"/unhide {entry.reference}")
    await anna.send("/privacy")
    await anna.press("Revoca il mio consenso")
    await staff.send(f"/publish {entry.reference}")
    assert "non si può pubblicare: è anonimo" in staff.last_bot_message.text
    assert await published(db) == [] and await audit_rows(db) == []


async def test_hiding_a_published_entry_takes_it_off_the_pages_for_good(sandbox, db, comment):
    entry = await entry_of(db, EntryKind.COMMENT)
    staff = office(sandbox)
    await staff.send(f"/publish {entry.reference}")
    await staff.send(f"/hide {entry.reference} insulti")
    assert await published(db) == []
    await staff.send(f"/unhide {entry.reference}")
    assert await published(db) == []  # published again only by a new /publish


async def test_staff_unpublish_an_entry_which_stays_in_the_record(sandbox, db, comment):
    entry = await entry_of(db, EntryKind.COMMENT)
    staff = office(sandbox)
    await staff.send(f"/publish {entry.reference}")
    await staff.send(f"/ritira {entry.reference}")
    assert (
        f"Il contributo {entry.reference} non è più pubblicato: resta nel registro."
        == staff.last_bot_message.text
    )
    assert await published(db) == []
    assert (await entry_of(db, EntryKind.COMMENT)).text == entry.text
    await staff.send(f"/unpublish {entry.reference}")
    assert f"Il contributo {entry.reference} non è pubblicato." == staff.last_bot_message.text
    await staff.send("/unpublish P-1999-00001")
    assert "Non esiste il contributo P-1999-00001." in staff.last_bot_message.text
    assert [row.action for row in await audit_rows(db)] == ["record_publish", "record_unpublish"]
    assert (await audit_rows(db))[1].details == {"reference": entry.reference}


async def test_publishing_is_refused_to_non_staff(sandbox, db, comment):
    anna = comment
    entry = await entry_of(db, EntryKind.COMMENT)
    for command in (f"/publish {entry.reference}", f"/unpublish {entry.reference}"):
        await anna.send(command)
        assert "riservato al personale" in anna.last_bot_message.text
    assert await published(db) == [] and await audit_rows(db) == []
    ben = sandbox.user(1002, first_name="Ben", language_code="en")
    await ben.send(f"/publish {entry.reference}")
    assert "reserved to the staff" in ben.last_bot_message.text


async def test_english_staff_read_english_messages(sandbox, db, comment):
    entry = await entry_of(db, EntryKind.COMMENT)
    staff = sandbox.user(ADMIN, first_name="Office", language_code="en")
    await staff.send(f"/publish {entry.reference}")
    assert f"Entry {entry.reference} is now published on the public pages" in (
        staff.last_bot_message.text
    )


async def test_forget_takes_the_author_entries_off_the_public_pages(sandbox, db, comment):
    anna = comment
    entry = await entry_of(db, EntryKind.COMMENT)
    staff = office(sandbox)
    await staff.send(f"/publish {entry.reference} Grazie")
    assert len(await published(db)) == 1

    await anna.send("/forget")
    await anna.press("Sì, cancella i miei dati")
    assert await published(db) == []
    kept = await entry_of(db, EntryKind.COMMENT)
    assert kept.text == entry.text  # the record keeps it, anonymous and unpublished
    assert (kept.published_at, kept.published_by) == (None, None)
    await staff.send(f"/publish {entry.reference}")
    assert "non si può pubblicare: è anonimo" in staff.last_bot_message.text
    assert await published(db) == []
