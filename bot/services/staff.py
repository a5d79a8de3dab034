"""Staff roles: administrators (ADMIN_IDS) and the staff they grant, invites and the audit log."""

from __future__ import annotations

import enum
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import affected_rows
from bot.db.models import StaffAction, StaffInvite, StaffMember

INVITE_PREFIX = "staff_"
INVITE_VALIDITY = timedelta(days=2)


class InviteOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


def is_admin(telegram_user_id: int, admin_ids: Collection[int]) -> bool:
    return telegram_user_id in admin_ids


async def is_staff(
    session: AsyncSession, telegram_user_id: int, admin_ids: Collection[int]
) -> bool:
    """Administrators are always staff; others when an administrator granted it."""
    if is_admin(telegram_user_id, admin_ids):
        return True
    return await session.get(StaffMember, telegram_user_id) is not None


def audit(
    session: AsyncSession, actor_id: int, action: str, now: datetime, **details: object
) -> None:
    session.add(StaffAction(actor_id=actor_id, action=action, details=details, created_at=now))


async def grant(session: AsyncSession, actor_id: int, telegram_user_id: int, now: datetime) -> bool:
    """Make someone staff; False when they already were."""
    if await session.get(StaffMember, telegram_user_id) is not None:
        return False
    session.add(StaffMember(telegram_user_id=telegram_user_id, granted_by=actor_id, granted_at=now))
    audit(session, actor_id, "grant", now, user_id=telegram_user_id)
    return True


async def revoke(
    session: AsyncSession, actor_id: int, telegram_user_id: int, now: datetime
) -> bool:
    """Take staff rights back; False when the person was not staff."""
    result = await session.execute(
        delete(StaffMember).where(StaffMember.telegram_user_id == telegram_user_id)
    )
    if not affected_rows(result):
        return False
    audit(session, actor_id, "revoke", now, user_id=telegram_user_id)
    return True


async def list_staff(session: AsyncSession) -> list[StaffMember]:
    query = select(StaffMember).order_by(StaffMember.granted_at, StaffMember.telegram_user_id)
    return list(await session.scalars(query))


async def create_invite(session: AsyncSession, actor_id: int, now: datetime) -> StaffInvite:
    """A random single-use code, valid for INVITE_VALIDITY."""
    invite = StaffInvite(
        code=secrets.token_urlsafe(16),
        created_by=actor_id,
        created_at=now,
        expires_at=now + INVITE_VALIDITY,
    )
    session.add(invite)
    audit(session, actor_id, "invite", now, expires_at=invite.expires_at.isoformat())
    return invite


def invite_code(payload: str) -> str | None:
    """`staff_<code>` from a /start deep link, or None for other links."""
    if not payload.startswith(INVITE_PREFIX):
        return None
    return payload[len(INVITE_PREFIX) :] or None


async def accept_invite(
    session: AsyncSession, code: str, telegram_user_id: int, now: datetime
) -> InviteOutcome:
    invite = await session.get(StaffInvite, code, with_for_update=True)
    if invite is None:
        return InviteOutcome.UNKNOWN
    if invite.used_at is not None:
        return InviteOutcome.USED
    if invite.expires_at <= now:
        return InviteOutcome.EXPIRED
    invite.used_by = telegram_user_id
    invite.used_at = now
    if await session.get(StaffMember, telegram_user_id) is None:
        session.add(
            StaffMember(
                telegram_user_id=telegram_user_id, granted_by=invite.created_by, granted_at=now
            )
        )
    audit(session, telegram_user_id, "accept_invite", now, invited_by=invite.created_by)
    return InviteOutcome.ACCEPTED


async def audit_log(session: AsyncSession, limit: int = 50) -> list[StaffAction]:
    query = select(StaffAction).order_by(StaffAction.id.desc()).limit(limit)
    return list(await session.scalars(query))
