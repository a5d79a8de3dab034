"""Administrators read the staff audit log from Telegram: /staff log [N]."""

import dataclasses
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime

from bot.db.models import utcnow
from bot.services import staff
from tests.conftest import eventually

ADMIN = 4242
COLLEAGUE = 77
USAGE = "Usage: /staff list"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


def short_time(moment, zone: str) -> str:
    return format_datetime(moment, "short", tzinfo=ZoneInfo(zone), locale="en")


async def test_the_admin_reads_the_newest_actions_first_in_rome_time(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send(f"/staff grant {COLLEAGUE}")
    await admin.send("/feeds add https://example.org/rss?a=1&b=2 zone=genova")
    await admin.send("/staff log")
    lines = admin.last_bot_message.text.splitlines()
    assert lines[0] == "Audit log, newest first"
    async with db.transaction() as session:
        feed_add, grant = await staff.audit_log(session, 10)
    assert lines[1] == (
        f"{short_time(feed_add.created_at, 'Europe/Rome')} · {ADMIN} · feed_add · "
        f"feed_id={feed_add.details['feed_id']}, url=https://example.org/rss?a=1&b=2"
    )
    assert lines[2] == (
        f"{short_time(grant.created_at, 'Europe/Rome')} · {ADMIN} · grant · user_id={COLLEAGUE}"
    )
    assert short_time(grant.created_at, "UTC") not in lines[2]
    assert len(lines) == 3
    await admin.send("/staff log 1")
    lines = admin.last_bot_message.text.splitlines()
    assert len(lines) == 2 and " · feed_add · " in lines[1]


async def test_only_administrators_read_the_log(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    colleague = sandbox.user(COLLEAGUE, language_code="en")
    await admin.send(f"/staff grant {COLLEAGUE}")
    await colleague.send("/staff log")
    assert colleague.last_bot_message.text == "Only the administrators can manage the staff."
    citizen = sandbox.user(3, language_code="en")
    await citizen.send("/staff log")
    assert citizen.last_bot_message.text.startswith("This command is reserved")


@pytest.mark.parametrize(
    "command", ["/staff log x", "/staff log 0", "/staff log -3", "/staff log 5 6"]
)
async def test_a_bad_count_gets_the_usage(db, sandbox, running_bot, command):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send(command)
    text = admin.last_bot_message.text
    assert text.startswith(USAGE) and "/staff log [N]" in text


async def test_an_empty_log_says_so(db, sandbox, running_bot):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/staff log")
    assert admin.last_bot_message.text == "The audit log is empty."


async def test_a_long_log_comes_in_several_messages_of_at_most_100_entries(
    db, sandbox, running_bot
):
    start = utcnow() - timedelta(hours=3)
    async with db.transaction() as session:
        for n in range(120):
            url = f"https://example.org/{n}/" + "x" * 200
            staff.audit(
                session, ADMIN, "feed_add", start + timedelta(minutes=n), feed_id=n, url=url
            )
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/staff log 500")

    async def entries():
        texts = [message.text for message in admin.bot_messages]
        lines = [line for text in texts for line in text.splitlines()]
        return lines if len(lines) >= 101 else None

    lines = await eventually(entries)
    assert len(admin.bot_messages) > 1
    assert all(len(message.text) <= 4096 for message in admin.bot_messages)
    assert lines[0] == "Audit log, newest first"
    entries_shown = lines[1:]
    assert len(entries_shown) == 100
    assert "feed_id=119, url=https://example.org/119/xxx" in entries_shown[0]
    assert entries_shown[0].endswith("x…")
    assert "feed_id=20," in entries_shown[-1]
