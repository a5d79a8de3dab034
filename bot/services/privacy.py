"""Data-subject rights: what the bot stores about someone (/mydata) and erasing it (/forget).

/forget deletes the subscriber with everything hanging from it (subscriptions, deliveries,
profile, consent, open questions). Record entries stay, as the plan's record needs them, but
lose every link to the person: participant, declared profile and delivery, and are no longer
published. Their text, date, subject and language are kept.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import affected_rows
from bot.db.engine import erase_from_audience
from bot.db.models import (
    Base,
    Delivery,
    FeedbackPrompt,
    RecordEntry,
    Subscriber,
    Subscription,
)
from bot.services import participation, subscriptions
from bot.services.plan import DEFAULT_PLAN_FILE, PlanDataError
from bot.services.subscriptions import AudienceReason

CONTROLLER = "Città Metropolitana di Genova"

# Who on the staff verified, hid or answered is the office's business, not the person's:
# /mydata says that it happened and when, never by whom (their Telegram ids).
STAFF_IDENTITIES = ("verified_by", "hidden_by", "staff_reply_by", "published_by")


@cache
def contact_email(path: Path = DEFAULT_PLAN_FILE) -> str:
    """The plan office's address, from the plan's data file (participation.contact_email)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return str(raw["participation"]["contact_email"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise PlanDataError(f"plan data {path} lacks participation.contact_email") from error


def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _columns(row: Base, leave_out: tuple[str, ...] = ()) -> dict:
    return {
        column.key: _jsonable(getattr(row, column.key))
        for column in row.__table__.columns
        if column.key not in leave_out
    }


def _entries_about(subscriber: Subscriber, participant_id: int | None):
    """Entries linked to the person: as participant, or through a delivery (reactions)."""
    own_deliveries = select(Delivery.id).where(Delivery.subscriber_id == subscriber.id)
    linked: list[ColumnElement[bool]] = [RecordEntry.delivery_id.in_(own_deliveries)]
    if participant_id is not None:
        linked.append(RecordEntry.participant_id == participant_id)
    return or_(*linked)


async def my_data(session: AsyncSession, subscriber: Subscriber, now: datetime) -> dict:
    participant = await participation.find_participant(session, subscriber)
    subscriptions = await session.scalars(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id)
    )
    entries = await session.scalars(
        select(RecordEntry)
        .where(_entries_about(subscriber, participant.id if participant else None))
        .order_by(RecordEntry.id)
    )
    prompts = await session.scalars(
        select(FeedbackPrompt).where(FeedbackPrompt.subscriber_id == subscriber.id)
    )
    return {
        "generated_at": now.isoformat(),
        "controller": CONTROLLER,
        "contact": contact_email(),
        "subscriber": _columns(subscriber),
        "subscriptions": [_columns(s, ("id", "subscriber_id")) for s in subscriptions],
        "participant": _columns(participant, STAFF_IDENTITIES) if participant else None,
        "record_entries": [_entry(entry) for entry in entries],
        "questions_asked": [_columns(p, ("subscriber_id",)) for p in prompts],
        "deliveries": await _deliveries_summary(session, subscriber),
    }


def _entry(entry: RecordEntry) -> dict:
    data = _columns(entry, STAFF_IDENTITIES)
    data["tags"] = [f"{t.target_kind}:{t.target_id}" for t in entry.tags]
    return data


async def _deliveries_summary(session: AsyncSession, subscriber: Subscriber) -> dict:
    own = Delivery.subscriber_id == subscriber.id
    by_state = await session.execute(
        select(Delivery.state, func.count()).where(own).group_by(Delivery.state)
    )
    by_reaction = await session.execute(
        select(Delivery.reaction, func.count())
        .where(own, Delivery.reaction.is_not(None))
        .group_by(Delivery.reaction)
    )
    first, last = (
        await session.execute(
            select(func.min(Delivery.created_at), func.max(Delivery.sent_at)).where(own)
        )
    ).one()
    return {
        "by_state": dict(by_state.all()),
        "reactions": {
            participation.REACTION_VALUES.get(k, k): v
            for k, v in by_reaction.all()
            if k is not None  # the query leaves NULL out
        },
        "first_created_at": _jsonable(first),
        "last_sent_at": _jsonable(last),
    }


def my_data_json(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")


async def forget(session: AsyncSession, subscriber: Subscriber) -> int:
    """Erase the person; returns how many record entries were kept, now anonymous."""
    await erase_from_audience(session)
    participant = await participation.find_participant(session, subscriber)
    result = await session.execute(
        update(RecordEntry)
        .where(_entries_about(subscriber, participant.id if participant else None))
        .values(
            participant_id=None,
            participant_category=None,
            participant_organisation=None,
            organisation_verified=False,
            participant_comune=None,
            participant_zone=None,
            delivery_id=None,
            # Off the public pages too: an erased person's words are not shown any more.
            published_at=None,
            published_by=None,
        )
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    await subscriptions.leave(session, subscriber, AudienceReason.FORGOTTEN)
    await session.execute(
        delete(Subscriber)
        .where(Subscriber.id == subscriber.id)
        .execution_options(synchronize_session=False)
    )
    # Deliveries have no foreign key to cascade (see models.Delivery). A targeting that chose
    # them has committed by now (erase_from_audience waited for it), so this sees it.
    await session.execute(
        delete(Delivery)
        .where(Delivery.subscriber_id == subscriber.id)
        .execution_options(synchronize_session=False)
    )
    for erased in (subscriber, participant):
        if erased is not None:
            session.expunge(erased)
    return affected_rows(result) or 0
