"""Staff broadcasts: drafts, audiences, recipient counts, scheduling and cancelling.

A broadcast is an ordinary notification (kind `broadcast`, template `text`, optionally with a
photo or document); its source_key is `broadcast:<draft token>`, so confirming the same draft
twice enqueues it once. Drafts are rows, so a restart in the middle of the wizard loses nothing.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import affected_rows
from bot.db.models import (
    BroadcastDraft,
    Notification,
    NotificationKind,
    NotificationTag,
    StakeholderCategory,
    TargetKind,
)
from bot.i18n import N_, _
from bot.services import outbox, subscriptions
from bot.services.event_input import local_time
from bot.services.events import EventError
from bot.services.outbox import NewNotification
from bot.services.subscriptions import Target, UnknownTarget

SOURCE_PREFIX = "broadcast:"
DRAFT_VALIDITY = timedelta(days=7)
MEDIA_KINDS = ("photo", "document")
CATEGORIES = tuple(category.value for category in StakeholderCategory)
_UNKNOWN_TARGET = {
    TargetKind.ZONE: N_("unknown zone: {id}"),
    TargetKind.COMUNE: N_("unknown comune: {id}"),
    TargetKind.STRATEGY: N_("unknown strategy: {id}"),
    TargetKind.ACTION: N_("unknown action of the plan: {id}"),
}


class DraftStep(enum.StrEnum):
    """Where a draft is in the /broadcast wizard (stored in broadcast_drafts.step)."""

    TEXT = "text"  # waiting for the text, photo or document
    AUDIENCE = "audience"  # choosing the audience
    WHEN = "when"  # the preview was shown: send now or schedule?
    TIME = "time"  # waiting for the date and time
    CONFIRM = "confirm"  # waiting for the confirmation


class BroadcastError(ValueError):
    """A time or audience the staff typed that cannot be used."""


@dataclass
class Audience:
    """Who a broadcast is for: everyone, or followers of any of the chosen targets; narrowed
    to one language and to participants of the chosen stakeholder categories, if any.

    Categories alone (no target) mean everyone of those categories.
    """

    everyone: bool = False
    targets: set[tuple[str, str]] = field(default_factory=set)
    language: str | None = None
    categories: set[str] = field(default_factory=set)

    def toggle(self, kind: TargetKind, target_id: str) -> None:
        self.targets ^= {(kind.value, target_id)}
        self.everyone = False

    def toggle_everyone(self) -> None:
        self.everyone, self.targets = not self.everyone, set()

    def toggle_category(self, category: str) -> None:
        if category not in CATEGORIES:
            raise BroadcastError(category)
        self.categories ^= {category}

    def toggle_language(self, language: str) -> None:
        self.language = None if self.language == language else language

    def is_empty(self) -> bool:
        return not self.everyone and not self.targets and not self.categories

    @property
    def reaches_everyone(self) -> bool:
        return self.everyone or (not self.targets and bool(self.categories))

    def chosen(self, kind: TargetKind) -> list[str]:
        return sorted(target_id for k, target_id in self.targets if k == kind.value)

    def to_json(self) -> dict:
        return {
            "everyone": self.everyone,
            "targets": sorted([kind, target_id] for kind, target_id in self.targets),
            "language": self.language,
            "categories": sorted(self.categories),
        }

    @classmethod
    def from_json(cls, data: dict) -> Audience:
        return cls(
            everyone=bool(data.get("everyone")),
            targets={(kind, target_id) for kind, target_id in data.get("targets", [])},
            language=data.get("language"),
            categories=set(data.get("categories", [])),
        )


@dataclass(frozen=True)
class Media:
    """A photo or document sent with the broadcast, by its Telegram file id (or https URL)."""

    kind: str
    file_id: str
    file_name: str | None = None

    def to_json(self) -> dict:
        return {"kind": self.kind, "file_id": self.file_id, "file_name": self.file_name}


def source_key(token: str) -> str:
    return f"{SOURCE_PREFIX}{token}"


def new_broadcast(
    token: str,
    html: str,
    audience: Audience,
    not_before: datetime | None = None,
    media: Media | None = None,
) -> NewNotification:
    title = html.split("\n", 1)[0][:120] or (media.file_name or "" if media else "")
    payload: dict = {"title": title, "html": html}
    if media is not None:
        payload["media"] = media.to_json()
    return NewNotification(
        kind=NotificationKind.BROADCAST,
        source_key=source_key(token),
        template="text",
        payload=payload,
        tags=sorted(audience.targets),
        language=audience.language,
        everyone=audience.reaches_everyone,
        categories=sorted(audience.categories) or None,
        not_before=not_before,
    )


async def check_audience(session: AsyncSession, audience: Audience) -> None:
    """Every chosen zone, comune, strategy and action exists; BroadcastError names the first
    that does not (a typing error would otherwise reach nobody, silently)."""
    for kind, target_id in sorted(audience.targets):
        try:
            await subscriptions.describe_target(session, Target(TargetKind(kind), target_id))
        except UnknownTarget:
            message = _(_UNKNOWN_TARGET[TargetKind(kind)]).format(id=target_id)
            raise BroadcastError(message) from None


async def count_recipients(session: AsyncSession, audience: Audience) -> int:
    """How many active subscribers the broadcast would reach (outbox targeting rules)."""
    draft = Notification(
        language=audience.language,
        everyone=audience.reaches_everyone,
        categories=sorted(audience.categories) or None,
        tags=[NotificationTag(target_kind=k, target_id=i) for k, i in sorted(audience.targets)],
    )
    query = outbox.recipients_query(draft)
    if query is None:
        return 0
    return await session.scalar(select(func.count()).select_from(query.subquery())) or 0


async def find(session: AsyncSession, token: str) -> Notification | None:
    query = select(Notification).where(Notification.source_key == source_key(token))
    return await session.scalar(query)


async def enqueue(
    session: AsyncSession,
    token: str,
    html: str,
    audience: Audience,
    at: datetime | None = None,
    media: Media | None = None,
) -> tuple[Notification, bool]:
    return await outbox.enqueue(session, new_broadcast(token, html, audience, at, media))


# --- drafts -------------------------------------------------------------------------------


async def start_draft(session: AsyncSession, author_id: int, now: datetime) -> BroadcastDraft:
    """A new, empty draft; the author's previous one (if any) is dropped."""
    await drop_draft(session, author_id)
    draft = BroadcastDraft(
        token=secrets.token_hex(4),
        author_id=author_id,
        step=DraftStep.TEXT.value,
        html="",
        audience=Audience().to_json(),
        updated_at=now,
    )
    session.add(draft)
    await session.flush()
    return draft


async def load_draft(session: AsyncSession, author_id: int, now: datetime) -> BroadcastDraft | None:
    """The author's draft, unless it was left untouched for longer than DRAFT_VALIDITY."""
    draft = await session.scalar(
        select(BroadcastDraft).where(BroadcastDraft.author_id == author_id)
    )
    if draft is None or now - draft.updated_at > DRAFT_VALIDITY:
        return None
    return draft


async def drop_draft(session: AsyncSession, author_id: int) -> None:
    await session.execute(delete(BroadcastDraft).where(BroadcastDraft.author_id == author_id))


def audience_of(draft: BroadcastDraft) -> Audience:
    return Audience.from_json(draft.audience or {})


def set_audience(draft: BroadcastDraft, audience: Audience) -> None:
    # A new dict, so that SQLAlchemy sees the JSON column change.
    draft.audience = audience.to_json()


def media_of(draft: BroadcastDraft) -> Media | None:
    if draft.media_kind is None or draft.media_file_id is None:
        return None
    return Media(draft.media_kind, draft.media_file_id, draft.media_file_name)


def set_content(draft: BroadcastDraft, html: str, media: Media | None = None) -> None:
    if media is not None and media.kind not in MEDIA_KINDS:
        raise BroadcastError(media.kind)
    draft.html = html
    draft.media_kind = media.kind if media else None
    draft.media_file_id = media.file_id if media else None
    draft.media_file_name = media.file_name if media else None


async def confirm(session: AsyncSession, draft: BroadcastDraft) -> tuple[Notification, bool]:
    """The draft becomes a notification (once, whatever happens to the draft)."""
    created = await enqueue(
        session, draft.token, draft.html, audience_of(draft), draft.send_at, media_of(draft)
    )
    await session.delete(draft)
    return created


async def scheduled(session: AsyncSession, now: datetime) -> list[Notification]:
    """Broadcasts due later and not yet targeted, soonest first."""
    query = (
        select(Notification)
        .where(
            Notification.kind == NotificationKind.BROADCAST.value,
            Notification.targeted_at.is_(None),
            Notification.not_before > now,
        )
        .order_by(Notification.not_before, Notification.id)
    )
    return list(await session.scalars(query))


async def cancel(session: AsyncSession, notification_id: int) -> bool:
    """Delete a scheduled broadcast that nobody has been targeted for yet."""
    result = await session.execute(
        delete(Notification).where(
            Notification.id == notification_id,
            Notification.kind == NotificationKind.BROADCAST.value,
            Notification.targeted_at.is_(None),
        )
    )
    return bool(affected_rows(result))


def parse_time(text: str, now: datetime) -> datetime:
    """`2026-12-01 09:00` in Rome time → UTC; it must be in the future."""
    try:
        moment = local_time(text)
    except EventError as error:
        raise BroadcastError(str(error)) from None
    if moment <= now:
        raise BroadcastError(text)
    return moment
