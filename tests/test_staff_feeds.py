"""Staff manage feeds and import monitoring files from Telegram."""

import dataclasses
from pathlib import Path

import pytest

from bot.services import feed_registry

ADMIN = 4242
SAMPLE = Path(__file__).resolve().parent.parent / "bot" / "data" / "monitoring_sample.yaml"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


async def test_staff_add_list_pause_resume_and_remove_feeds(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/feeds")
    assert admin.last_bot_message.text.startswith("No feed is registered")
    await admin.send("/feeds add https://example.org/rss zone=genova strategy=s1")
    assert admin.last_bot_message.text.startswith("Feed #")
    async with db.transaction() as session:
        (feed,) = await feed_registry.list_feeds(session)
    assert (feed.default_zones, feed.default_strategies) == (["genova"], ["S1"])
    await admin.send("/feeds add https://example.org/rss")
    assert "already registered" in admin.last_bot_message.text
    await admin.send(f"/feeds pause {feed.id}")
    await admin.send("/feeds")
    assert f"#{feed.id} https://example.org/rss · paused" in admin.last_bot_message.text
    await admin.send(f"/feeds resume {feed.id}")
    assert admin.last_bot_message.text == f"Feed #{feed.id} resumed."
    await admin.send(f"/feeds remove {feed.id}")
    assert admin.last_bot_message.text == f"Feed #{feed.id} removed."
    await admin.send("/feeds frobnicate")
    assert admin.last_bot_message.text.startswith("Usage: /feeds")


async def test_a_monitoring_file_with_problems_imports_nothing(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    bad = b"code,strategy,title_it,status,progress\nA1,S1,Azione,ongoing,120\n"
    await admin.send_document("actions.csv", bad, mime_type="text/csv")
    text = admin.last_bot_message.text
    assert text.startswith("Nothing imported: ")
    assert "line 2" in text


async def test_a_monitoring_file_is_imported_and_again_changes_nothing(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    content = SAMPLE.read_bytes()
    await admin.send_document("monitoraggio.yaml", content, mime_type="application/x-yaml")
    text = admin.last_bot_message.text
    assert text.startswith("Imported monitoraggio.yaml")
    assert "new_action" in text or "changes" in text
    await admin.send_document("monitoraggio.yaml", content, mime_type="application/x-yaml")
    assert "Nothing changed." in admin.last_bot_message.text


async def test_citizens_files_are_not_imported(db, sandbox, running_bot):
    citizen = sandbox.user(5, language_code="en")
    await citizen.send_document("monitoraggio.yaml", SAMPLE.read_bytes(), mime_type="text/yaml")
    assert not citizen.last_bot_message.text.startswith("Imported")
