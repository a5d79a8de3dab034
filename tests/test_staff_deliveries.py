"""/deliveries: the staff see delivery figures in Telegram; everyone else is refused."""

import dataclasses

import pytest

from bot.app import build_sender
from bot.db.models import NotificationKind, TargetKind
from bot.delivery.sender import SenderConfig
from bot.services import outbox, subscriptions
from bot.services.outbox import NewNotification
from bot.services.subscriptions import Target

ADMIN = 4242


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, admin_ids=frozenset({ADMIN}))


@pytest.fixture
async def one_broadcast(settings, db, sandbox):
    async with db.transaction() as session:
        for user_id in (1, 2):
            sandbox.user(user_id, language_code="it")
            row, _ = await subscriptions.get_or_create_subscriber(
                session, telegram_user_id=user_id, chat_id=user_id, first_name="U", language="it"
            )
            await subscriptions.subscribe(session, row, Target(TargetKind.ZONE, "genova"))
        notification, _ = await outbox.enqueue(
            session,
            NewNotification(
                kind=NotificationKind.BROADCAST,
                source_key="b",
                template="text",
                payload={"title": "Incontro a Genova", "html": "Incontro a Genova\n\nSala Rossa"},
                tags=[("zone", "genova")],
            ),
        )
    sandbox.fail_next(
        "sendMessage",
        error_code=403,
        description="Forbidden: bot was blocked by the user",
        chat_id=2,
    )
    sender = build_sender(
        settings,
        db,
        base_url=sandbox.base_url,
        config=SenderConfig(messages_per_second=None, per_chat_interval_s=None),
    )
    async with sender.bot:
        await sender.run_until_idle()
    return notification.id


async def test_staff_see_delivery_figures(sandbox, running_bot, one_broadcast):
    admin = sandbox.user(ADMIN, first_name="Ufficio", language_code="it")
    await admin.send("/deliveries")
    text = admin.last_bot_message.text
    assert f"#{one_broadcast} Incontro a Genova" in text
    assert "inviate 1 · in attesa 0 · non riuscite 1 (di cui 1 per bot bloccato)" in text
    await admin.send(f"/deliveries {one_broadcast}")
    assert "inviate 1" in admin.last_bot_message.text
    await admin.send("/deliveries 99999")
    assert "Non esiste la notifica numero 99999." in admin.last_bot_message.text
    await admin.send("/deliveries abc")
    assert "Uso: /deliveries" in admin.last_bot_message.text


async def test_others_are_refused(sandbox, running_bot, one_broadcast):
    citizen = sandbox.user(3, language_code="en")
    await citizen.send("/deliveries")
    assert (
        citizen.last_bot_message.text
        == "This command is reserved to the staff of the plan's office."
    )
