"""Subscription rules, called directly as the handlers call them."""

import pytest

from bot.db.models import TargetKind
from bot.services import subscriptions
from bot.services.subscriptions import Change, Target, UnknownTarget


async def new_subscriber(session, user_id=500, language="it"):
    subscriber, created = await subscriptions.get_or_create_subscriber(
        session, telegram_user_id=user_id, chat_id=user_id, first_name="Test", language=language
    )
    assert created
    return subscriber


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("zone_genova", Target(TargetKind.ZONE, "genova")),
        ("zone_Golfo_Paradiso", Target(TargetKind.ZONE, "golfo_paradiso")),
        ("strategy_s4", Target(TargetKind.STRATEGY, "S4")),
        ("comune_010046", Target(TargetKind.COMUNE, "010046")),
        ("zone_", None),
        ("staff_abc", None),
        ("zone_genova;drop", None),
        ("", None),
    ],
)
def test_deep_link_payloads(payload, expected):
    assert subscriptions.parse_deep_link(payload) == expected


@pytest.mark.parametrize(
    ("code", "language"),
    [("it", "it"), ("it-IT", "it"), ("en-GB", "en"), ("de", "it"), (None, "it")],
)
def test_language_comes_from_telegram_when_supported(code, language):
    assert subscriptions.language_for(code, "it") == language


async def test_following_twice_is_harmless_and_unfollowing_twice_too(db):
    target = Target(TargetKind.STRATEGY, "S2")
    async with db.transaction() as session:
        subscriber = await new_subscriber(session)
        assert await subscriptions.subscribe(session, subscriber, target) is Change.ADDED
        assert await subscriptions.subscribe(session, subscriber, target) is Change.ALREADY
    async with db.transaction() as session:
        subscriber = await subscriptions.get_subscriber(session, 500)
        assert await subscriptions.followed_ids(session, subscriber, TargetKind.STRATEGY) == {"S2"}
        assert await subscriptions.unsubscribe(session, subscriber, target) is Change.REMOVED
        assert await subscriptions.unsubscribe(session, subscriber, target) is Change.NOT_FOLLOWING
        assert await subscriptions.followed_ids(session, subscriber, TargetKind.STRATEGY) == set()


async def test_unknown_targets_are_refused(db):
    async with db.transaction() as session:
        subscriber = await new_subscriber(session)
        for target in (
            Target(TargetKind.STRATEGY, "S9"),
            Target(TargetKind.ZONE, "atlantide"),
            Target(TargetKind.COMUNE, "999999"),
        ):
            with pytest.raises(UnknownTarget):
                await subscriptions.subscribe(session, subscriber, target)


async def test_list_followed_groups_kinds_in_plan_order(db):
    async with db.transaction() as session:
        subscriber = await new_subscriber(session)
        for target in (
            Target(TargetKind.COMUNE, "010046"),  # Rapallo
            Target(TargetKind.ZONE, "tigullio"),
            Target(TargetKind.STRATEGY, "S3"),
            Target(TargetKind.STRATEGY, "S1"),
            Target(TargetKind.COMUNE, "010015"),  # Chiavari
        ):
            await subscriptions.subscribe(session, subscriber, target)
        items = await subscriptions.list_followed(session, subscriber)
    assert [(item.kind.value, item.id) for item in items] == [
        ("strategy", "S1"),
        ("strategy", "S3"),
        ("zone", "tigullio"),
        ("comune", "010015"),
        ("comune", "010046"),
    ]
    assert items[0].name("en") == "S1 · Coordinate change"
    assert items[0].name("it") == "S1 · Coordinare il cambiamento"


async def test_unsubscribe_all_removes_only_that_subscribers_rows(db):
    async with db.transaction() as session:
        first = await new_subscriber(session, 1)
        second = await new_subscriber(session, 2)
        for subscriber in (first, second):
            await subscriptions.subscribe(session, subscriber, Target(TargetKind.ZONE, "genova"))
            await subscriptions.subscribe(session, subscriber, Target(TargetKind.STRATEGY, "S1"))
        assert await subscriptions.unsubscribe_all(session, first) == 2
        assert await subscriptions.list_followed(session, first) == []
        assert len(await subscriptions.list_followed(session, second)) == 2


async def test_blocking_deactivates_and_returning_reactivates(db):
    async with db.transaction() as session:
        await new_subscriber(session, 77)
        assert await subscriptions.mark_blocked(session, 77) is True
        assert await subscriptions.mark_blocked(session, 78) is False
    async with db.transaction() as session:
        subscriber = await subscriptions.get_subscriber(session, 77)
        assert subscriber.active is False and subscriber.blocked_at is not None
        again, created = await subscriptions.get_or_create_subscriber(
            session, telegram_user_id=77, chat_id=77, first_name="Back", language="en"
        )
        assert created is False and again.active is True and again.blocked_at is None
        assert again.language == "it"  # a returning user keeps the language they chose


async def test_big_telegram_ids_fit(db):
    async with db.transaction() as session:
        subscriber = await new_subscriber(session, 8_000_000_000)
        assert subscriber.telegram_user_id == 8_000_000_000
