"""Who follows what: subscribers, their language, and their subscriptions.

Every function takes the caller's session and never commits: one use case, one transaction.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import SUPPORTED_LANGUAGES
from bot.db import affected_rows
from bot.db.models import (
    AudienceChange,
    Comune,
    Delivery,
    DeliveryMode,
    PlanAction,
    Strategy,
    Subscriber,
    Subscription,
    TargetKind,
    Zone,
    utcnow,
)
from bot.services.monitoring_validate import CODE as ACTION_CODE
from bot.services.plan import display_name, strategy_label

_DEEP_LINK = re.compile(r"^(zone|strategy|comune)_([A-Za-z0-9_\-]{1,60})$")
ACTION_LINK_PREFIX = "action_"
# Telegram's start parameter: up to 64 of A-Z a-z 0-9 _ -. An action code may also hold dots,
# so the code is spelt with "." → "-", "-" → "_-", "_" → "__": no spelling begins another's,
# so every parameter reads back as one code.
_START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SPELLING = {".": "-", "-": "_-", "_": "__"}
_READING = {spelt: char for char, spelt in _SPELLING.items()}


class UnknownTarget(LookupError):
    """The strategy, zone or comune does not exist."""


class Change(enum.StrEnum):
    ADDED = "added"
    ALREADY = "already"
    REMOVED = "removed"
    NOT_FOLLOWING = "not_following"


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    id: str


@dataclass(frozen=True)
class FollowedItem:
    kind: TargetKind
    id: str
    name_it: str
    name_en: str

    def name(self, language: str) -> str:
        return display_name(self.name_en if language == "en" else self.name_it)


def action_start_parameter(code: str) -> str | None:
    """`S4.1` → `action_S4-1`, what `/start` reads back as that action; None when the code is
    not an action code or is too long for Telegram's start parameter (64 characters)."""
    if not ACTION_CODE.match(code):
        return None
    parameter = ACTION_LINK_PREFIX + "".join(_SPELLING.get(char, char) for char in code)
    return parameter if _START_PARAMETER.match(parameter) else None


def _read_action_code(spelt: str) -> str | None:
    chars, index = [], 0
    while index < len(spelt):
        pair = spelt[index : index + 2]
        if pair in _READING:
            chars.append(_READING[pair])
            index += 2
        elif spelt[index] == "_":  # "_" only ever starts a pair
            return None
        else:
            chars.append(_READING.get(spelt[index], spelt[index]))
            index += 1
    code = "".join(chars)
    return code if ACTION_CODE.match(code) else None


def parse_deep_link(payload: str) -> Target | None:
    """`zone_genova`, `strategy_S1`, `comune_010025`, `action_S4-1` (see
    `action_start_parameter`) → a target; anything else → None."""
    payload = payload.strip()
    if payload.startswith(ACTION_LINK_PREFIX) and _START_PARAMETER.match(payload):
        code = _read_action_code(payload.removeprefix(ACTION_LINK_PREFIX))
        return Target(TargetKind.ACTION, code) if code else None
    match = _DEEP_LINK.match(payload)
    if not match:
        return None
    kind, raw_id = match.groups()
    if kind == "strategy":
        return Target(TargetKind.STRATEGY, raw_id.upper())
    if kind == "zone":
        return Target(TargetKind.ZONE, raw_id.lower())
    return Target(TargetKind.COMUNE, raw_id)


def language_for(language_code: str | None, default_language: str) -> str:
    """Telegram's client language when we support it, else the bot's default."""
    code = (language_code or "").split("-")[0].lower()
    return code if code in SUPPORTED_LANGUAGES else default_language


class AudienceReason(enum.StrEnum):
    JOINED = "joined"
    RETURNED = "returned"  # unblocked the bot, or back with a message after blocking it
    BLOCKED = "blocked"  # blocked the bot, or Telegram says the chat is unreachable
    FORGOTTEN = "forgotten"  # erased with /forget


def record_audience_change(
    session: AsyncSession, delta: int, reason: AudienceReason, now: datetime | None = None
) -> None:
    """Someone became reachable (+1) or stopped being reachable (-1), without saying who.

    Call it where `Subscriber.active` or the subscriber's existence changes, and only then.
    """
    session.add(AudienceChange(occurred_at=now or utcnow(), delta=delta, reason=reason.value))


async def _set_active(
    session: AsyncSession, subscriber: Subscriber, active: bool, reason: AudienceReason
) -> None:
    """Flip `active` with a conditional UPDATE, so that two transactions racing to block (or
    unblock) the same person record the change once; an inactive subscriber keeps the time
    they became unreachable."""
    if subscriber.active == active:
        return
    now = utcnow()
    result = await session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber.id, Subscriber.active.is_(not active))
        .values(active=active, blocked_at=None if active else now)
    )
    if affected_rows(result):
        record_audience_change(session, 1 if active else -1, reason, now)


async def _reactivate(session: AsyncSession, subscriber: Subscriber) -> None:
    await _set_active(session, subscriber, True, AudienceReason.RETURNED)


async def leave(session: AsyncSession, subscriber: Subscriber, reason: AudienceReason) -> None:
    """Stop sending to this person (blocked, unreachable, or about to be erased)."""
    await _set_active(session, subscriber, False, reason)


async def get_subscriber(session: AsyncSession, telegram_user_id: int) -> Subscriber | None:
    query = select(Subscriber).where(Subscriber.telegram_user_id == telegram_user_id)
    return await session.scalar(query)


async def get_or_create_subscriber(
    session: AsyncSession,
    *,
    telegram_user_id: int,
    chat_id: int,
    first_name: str | None,
    language: str,
) -> tuple[Subscriber, bool]:
    subscriber = await get_subscriber(session, telegram_user_id)
    if subscriber is not None:
        await _reactivate(session, subscriber)
        subscriber.first_name = first_name
        return subscriber, False
    subscriber = Subscriber(
        telegram_user_id=telegram_user_id,
        chat_id=chat_id,
        first_name=first_name,
        language=language,
        active=True,
    )
    session.add(subscriber)
    record_audience_change(session, +1, AudienceReason.JOINED)
    await session.flush()
    return subscriber, True


def set_language(subscriber: Subscriber, language: str) -> None:
    if language not in SUPPORTED_LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    subscriber.language = language


async def describe_target(session: AsyncSession, target: Target) -> FollowedItem:
    """The target's display names; raises UnknownTarget when it does not exist."""
    if target.kind is TargetKind.STRATEGY:
        strategy = await session.get(Strategy, target.id)
        if strategy is not None:
            return _strategy_item(strategy)
    elif target.kind is TargetKind.ZONE:
        zone = await session.get(Zone, target.id)
        if zone is not None:
            return FollowedItem(target.kind, target.id, zone.name, zone.name)
    elif target.kind is TargetKind.COMUNE:
        comune = await session.get(Comune, target.id)
        if comune is not None:
            return FollowedItem(target.kind, target.id, comune.name, comune.name)
    elif target.kind is TargetKind.ACTION:
        action = await session.get(PlanAction, target.id)
        if action is not None:
            return _action_item(action)
    raise UnknownTarget(f"{target.kind}:{target.id}")


async def _find(session: AsyncSession, subscriber: Subscriber, target: Target):
    query = select(Subscription).where(
        Subscription.subscriber_id == subscriber.id,
        Subscription.target_kind == target.kind.value,
        Subscription.target_id == target.id,
    )
    return await session.scalar(query)


async def subscribe(session: AsyncSession, subscriber: Subscriber, target: Target) -> Change:
    await describe_target(session, target)
    if await _find(session, subscriber, target) is not None:
        return Change.ALREADY
    session.add(
        Subscription(
            subscriber_id=subscriber.id, target_kind=target.kind.value, target_id=target.id
        )
    )
    await session.flush()
    return Change.ADDED


async def unsubscribe(session: AsyncSession, subscriber: Subscriber, target: Target) -> Change:
    subscription = await _find(session, subscriber, target)
    if subscription is None:
        return Change.NOT_FOLLOWING
    await session.delete(subscription)
    await session.flush()
    return Change.REMOVED


async def set_following(
    session: AsyncSession, subscriber: Subscriber, target: Target, follow: bool
) -> tuple[FollowedItem, Change] | None:
    """Follow or stop following; None when the target does not exist (stale or forged)."""
    try:
        item = await describe_target(session, target)
    except UnknownTarget:
        return None
    if follow:
        return item, await subscribe(session, subscriber, target)
    return item, await unsubscribe(session, subscriber, target)


async def unsubscribe_all(session: AsyncSession, subscriber: Subscriber) -> int:
    result = await session.execute(
        delete(Subscription).where(Subscription.subscriber_id == subscriber.id)
    )
    return affected_rows(result) or 0


async def followed_ids(session: AsyncSession, subscriber: Subscriber, kind: TargetKind) -> set[str]:
    query = select(Subscription.target_id).where(
        Subscription.subscriber_id == subscriber.id, Subscription.target_kind == kind.value
    )
    return set(await session.scalars(query))


async def list_followed(session: AsyncSession, subscriber: Subscriber) -> list[FollowedItem]:
    """What the subscriber follows: strategies, zones, comuni by name, then actions by code."""
    items: list[FollowedItem] = []
    strategies = select(Strategy).join(
        Subscription,
        (Subscription.target_id == Strategy.id)
        & (Subscription.target_kind == TargetKind.STRATEGY.value),
    )
    zones = select(Zone).join(
        Subscription,
        (Subscription.target_id == Zone.id) & (Subscription.target_kind == TargetKind.ZONE.value),
    )
    comuni = select(Comune).join(
        Subscription,
        (Subscription.target_id == Comune.istat)
        & (Subscription.target_kind == TargetKind.COMUNE.value),
    )
    mine = Subscription.subscriber_id == subscriber.id
    for strategy in await session.scalars(strategies.where(mine).order_by(Strategy.position)):
        items.append(_strategy_item(strategy))
    for zone in await session.scalars(zones.where(mine).order_by(Zone.position)):
        items.append(FollowedItem(TargetKind.ZONE, zone.id, zone.name, zone.name))
    for comune in await session.scalars(comuni.where(mine).order_by(Comune.name)):
        items.append(FollowedItem(TargetKind.COMUNE, comune.istat, comune.name, comune.name))
    actions = select(PlanAction).join(
        Subscription,
        (Subscription.target_id == PlanAction.code)
        & (Subscription.target_kind == TargetKind.ACTION.value),
    )
    for action in await session.scalars(actions.where(mine).order_by(PlanAction.code)):
        items.append(_action_item(action))
    return items


def _strategy_item(strategy: Strategy) -> FollowedItem:
    return FollowedItem(
        TargetKind.STRATEGY,
        strategy.id,
        strategy_label(strategy, "it"),
        strategy_label(strategy, "en"),
    )


def _action_item(action: PlanAction) -> FollowedItem:
    return FollowedItem(
        TargetKind.ACTION,
        action.code,
        f"{action.code} · {action.title_it}",
        f"{action.code} · {action.title_en}",
    )


async def mark_blocked(session: AsyncSession, telegram_user_id: int) -> bool:
    """The user blocked the bot: stop sending to them, keep their choices."""
    subscriber = await get_subscriber(session, telegram_user_id)
    if subscriber is None:
        return False
    await leave(session, subscriber, AudienceReason.BLOCKED)
    return True


async def mark_unblocked(session: AsyncSession, telegram_user_id: int) -> bool:
    subscriber = await get_subscriber(session, telegram_user_id)
    if subscriber is None:
        return False
    await _reactivate(session, subscriber)
    return True


async def deactivate(session: AsyncSession, subscriber_id: int) -> None:
    """Telegram says the chat is unreachable (blocked, deleted): stop sending to it."""
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is not None:
        await leave(session, subscriber, AudienceReason.BLOCKED)


async def move_chat(session: AsyncSession, subscriber_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its deliveries follow the new chat id."""
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is not None:
        subscriber.chat_id = new_chat_id
    await session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.state.in_(["pending", "held"]))
        .values(chat_id=new_chat_id)
    )


QUIET_HOUR_CHOICES = ((22, 7), (21, 8), (23, 6))
DIGEST_HOUR_CHOICES = (7, 8, 12, 18, 20)


class InvalidPreference(ValueError):
    """A delivery preference outside the offered choices."""


def set_preference(subscriber: Subscriber, name: str, value: str) -> None:
    """Apply one delivery preference from its button value; raises InvalidPreference."""
    try:
        _PREFERENCE_SETTERS[name](subscriber, value)
    except (KeyError, ValueError) as error:
        raise InvalidPreference(f"{name}={value}") from error


def _set_mode(subscriber: Subscriber, value: str) -> None:
    subscriber.delivery_mode = DeliveryMode(value).value


def _set_hour(subscriber: Subscriber, value: str) -> None:
    hour = int(value)
    if hour not in DIGEST_HOUR_CHOICES:
        raise ValueError(value)
    subscriber.digest_hour = hour


def _set_day(subscriber: Subscriber, value: str) -> None:
    day = int(value)
    if not 0 <= day <= 6:
        raise ValueError(value)
    subscriber.digest_weekday = day


def _set_quiet(subscriber: Subscriber, value: str) -> None:
    if value == "off":
        subscriber.quiet_start = subscriber.quiet_end = None
        return
    start, end = (int(part) for part in value.split("-"))
    if (start, end) not in QUIET_HOUR_CHOICES:
        raise ValueError(value)
    subscriber.quiet_start, subscriber.quiet_end = start, end


_PREFERENCE_SETTERS = {"mode": _set_mode, "hour": _set_hour, "day": _set_day, "quiet": _set_quiet}
