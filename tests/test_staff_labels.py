"""A formatted broadcast is named by its plain text wherever staff read about it."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest

from bot.services import broadcasts, record, statistics
from bot.services.broadcasts import Audience
from bot.services.record import Format, RecordFilter
from tests.record_helpers import TIGULLIO, consenting, deliver, follower

ADMIN = 4242
FORMATTED = (
    "<b>Incontro pubblico</b> a <i>Chiavari</i> &amp; Rapallo\n\n"
    'Ci vediamo alla <a href="https://example.org/sala">Società Economica</a>.'
)
PLAIN = "Incontro pubblico a Chiavari & Rapallo"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


@pytest.fixture
async def commented_broadcast(settings, db, sandbox, running_bot):
    anna = await follower(db, sandbox, 1001, TIGULLIO)
    audience = Audience(targets={TIGULLIO})
    (notification_id,) = await deliver(
        settings, db, sandbox, broadcasts.new_broadcast("0123abcd", FORMATTED, audience)
    )
    message = anna.last_bot_message
    await consenting(anna)
    await anna.press("👍 Utile", message_id=message.message_id)
    await anna.reply("Verrò", to=message.message_id)
    return notification_id


def assert_plain(text: str) -> None:
    assert PLAIN in text
    assert "<b>" not in text and "&lt;" not in text and "&amp;" not in text


async def test_deliveries_and_summary_name_the_broadcast_by_its_text(sandbox, commented_broadcast):
    office = sandbox.user(ADMIN, first_name="Ufficio", language_code="it")
    await office.send("/deliveries")
    assert f"#{commented_broadcast} {PLAIN}" in office.last_bot_message.text
    assert_plain(office.last_bot_message.text)
    await office.send("/summary")
    assert_plain(office.last_bot_message.text)


async def test_record_export_and_feedback_figures_use_the_plain_text(db, commented_broadcast):
    async with db.transaction() as session:
        rows = await record.select_entries(session, RecordFilter())
        stats = await statistics.compute(session)
    content = record.export(rows, Format.CSV).decode("utf-8-sig")
    labels = {row["subject_label"] for row in csv.DictReader(io.StringIO(content), delimiter=";")}
    assert labels == {PLAIN}
    assert [label for label, _count in stats.feedback_by_subject] == [PLAIN]
