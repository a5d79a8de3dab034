"""Staff roles: admins grant and revoke staff by id or one-time invite; others are refused."""

import dataclasses
from datetime import timedelta

import pytest

from bot.db.models import StaffAction, utcnow
from bot.services import staff
from bot.services.staff import InviteOutcome

ADMIN = 4242
REFUSED = "This command is reserved to the staff of the plan's office."
STAFF_COMMANDS = [
    "/staff list",
    "/staff log",
    "/deliveries",
    "/export",
    "/summary",
    "/hide P-2026-00001 x",
    "/unhide P-2026-00001",
    "/answer P-2026-00001 ok",
    "/verify u-1",
    "/broadcast",
    "/scheduled",
    "/stats",
    "/feeds",
    "/feeds add https://example.org/rss",
    "/newevent 2026-12-03 17:30 | T | P",
    "/event list",
    "/evento cancel 1",
    "/programmati",
    "/annuncio",
]


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


async def test_granted_staff_are_staff_until_revoked(db):
    now = utcnow()
    async with db.transaction() as session:
        assert await staff.is_staff(session, ADMIN, {ADMIN})
        assert not await staff.is_staff(session, 7, {ADMIN})
        assert await staff.grant(session, ADMIN, 7, now)
        assert not await staff.grant(session, ADMIN, 7, now)
    async with db.transaction() as session:
        assert await staff.is_staff(session, 7, {ADMIN})
        assert await staff.revoke(session, ADMIN, 7, now)
        assert not await staff.revoke(session, ADMIN, 7, now)
        assert not await staff.is_staff(session, 7, {ADMIN})
        actions = [row.action for row in await staff.audit_log(session)]
    assert actions == ["revoke", "grant"]


async def test_an_invite_is_single_use_and_expires(db):
    now = utcnow()
    async with db.transaction() as session:
        invite = await staff.create_invite(session, ADMIN, now)
        expired = await staff.create_invite(session, ADMIN, now - timedelta(days=3))
    async with db.transaction() as session:
        assert await staff.accept_invite(session, invite.code, 8, now) is InviteOutcome.ACCEPTED
        assert await staff.accept_invite(session, invite.code, 9, now) is InviteOutcome.USED
        assert await staff.accept_invite(session, expired.code, 9, now) is InviteOutcome.EXPIRED
        assert await staff.accept_invite(session, "nope", 9, now) is InviteOutcome.UNKNOWN
        assert await staff.is_staff(session, 8, {ADMIN})
        assert not await staff.is_staff(session, 9, {ADMIN})


def test_invite_codes_come_only_from_staff_links():
    assert staff.invite_code("staff_abc") == "abc"
    assert staff.invite_code("zone_genova") is None
    assert staff.invite_code("staff_") is None


@pytest.mark.parametrize("command", STAFF_COMMANDS)
async def test_every_staff_command_is_refused_to_others(sandbox, running_bot, command):
    citizen = sandbox.user(3, language_code="en")
    await citizen.send(command)
    assert citizen.last_bot_message.text == REFUSED


async def test_admin_grants_by_id_and_the_grantee_gets_staff_commands(sandbox, running_bot, db):
    admin = sandbox.user(ADMIN, language_code="en")
    colleague = sandbox.user(77, language_code="en")
    await colleague.send("/deliveries")
    assert colleague.last_bot_message.text == REFUSED
    await admin.send("/staff grant 77")
    assert admin.last_bot_message.text == "77 is now staff."
    await colleague.send("/deliveries")
    assert colleague.last_bot_message.text == "No notification has been sent yet."
    await colleague.send("/staff grant 78")
    assert colleague.last_bot_message.text == "Only the administrators can manage the staff."
    await admin.send("/staff list")
    assert "• 77, since" in admin.last_bot_message.text
    await admin.send("/staff revoke 77")
    assert admin.last_bot_message.text == "77 is no longer staff."
    await colleague.send("/deliveries")
    assert colleague.last_bot_message.text == REFUSED
    async with db.transaction() as session:
        rows = [row.action for row in await staff.audit_log(session)]
    assert rows == ["revoke", "grant"]


async def test_an_invite_link_makes_staff_once(sandbox, running_bot, db):
    admin = sandbox.user(ADMIN, language_code="en")
    await admin.send("/staff invite")
    link = admin.last_bot_message.text.split("\n")[1]
    assert link.startswith("https://t.me/psm_test_bot?start=staff_")
    payload = link.partition("?start=")[2]
    first, second = sandbox.user(51, language_code="en"), sandbox.user(52, language_code="en")
    await first.send(f"/start {payload}")
    assert any("Welcome to the staff" in (m.text or "") for m in first.bot_messages)
    await first.send("/deliveries")
    assert first.last_bot_message.text == "No notification has been sent yet."
    await second.send(f"/start {payload}")
    await second.send("/deliveries")
    assert second.last_bot_message.text == REFUSED
    async with db.transaction() as session:
        actions = {row.action for row in await session.scalars(_actions())}
    assert actions == {"invite", "accept_invite"}


def _actions():
    from sqlalchemy import select

    return select(StaffAction)
