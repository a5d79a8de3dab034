"""SQLAlchemy models: the plan's reference data and the citizens who follow it."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TargetKind(enum.StrEnum):
    """What a subscription follows: a strategy, a zone, a comune or one of the plan's actions."""

    STRATEGY = "strategy"
    ZONE = "zone"
    COMUNE = "comune"
    ACTION = "action"


class Strategy(Base):
    __tablename__ = "strategies"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name_it: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False)

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_it


class Zone(Base):
    __tablename__ = "zones"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    label_detail: Mapped[str | None] = mapped_column(String(300))
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False)

    comuni: Mapped[list[Comune]] = relationship(
        back_populates="zone", order_by="Comune.name", lazy="raise"
    )


class Comune(Base):
    __tablename__ = "comuni"

    istat: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id"), index=True)
    population: Mapped[int | None] = mapped_column(Integer)
    zone_basis: Mapped[str | None] = mapped_column(String(64))
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False)

    zone: Mapped[Zone] = relationship(back_populates="comuni", lazy="raise")


class DeliveryMode(enum.StrEnum):
    INSTANT = "instant"
    DAILY = "daily"
    WEEKLY = "weekly"


class Subscriber(Base):
    """A Telegram user who talks to the bot (private chat: chat id == user id)."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery_mode: Mapped[str] = mapped_column(String(16), default=DeliveryMode.INSTANT.value)
    # Local (Europe/Rome) hours: the digest goes out at digest_hour, on digest_weekday (0=Mon).
    digest_hour: Mapped[int] = mapped_column(Integer, default=8)
    digest_weekday: Mapped[int] = mapped_column(Integer, default=0)
    # Quiet hours [quiet_start, quiet_end) in local hours; equal values mean none.
    quiet_start: Mapped[int | None] = mapped_column(Integer)
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", lazy="raise"
    )


class AudienceChange(Base):
    """Someone became reachable (+1) or stopped being reachable (-1), without saying who:
    "subscribers over time" is the running sum, and it survives /forget."""

    __tablename__ = "audience_changes"
    # /stats sums the changes of a period from the index alone.
    __table_args__ = (Index("ix_audience_changes_occurred_at", "occurred_at", "delta"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delta: Mapped[int] = mapped_column(Integer)
    # joined, returned (unblocked or back with /start), blocked, forgotten
    reason: Mapped[str] = mapped_column(String(16))


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "target_kind", "target_id", name="uq_subscription"),
        # Targeting and /stats look subscriptions up by what they follow, for who follows:
        # with subscriber_id in the index they need not read the table.
        Index("ix_subscriptions_target", "target_kind", "target_id", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions", lazy="raise")


class NotificationKind(enum.StrEnum):
    NEWS = "news"
    MONITORING = "monitoring"
    EVENT = "event"
    BROADCAST = "broadcast"


class Notification(Base):
    """One thing to tell people (the outbox). Tags say who cares; deliveries say who got it."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Idempotency: the same source item never becomes two notifications.
    source_key: Mapped[str] = mapped_column(String(255), unique=True)
    # How to render: a key of bot.delivery.templates.TEMPLATES, with its data in payload.
    template: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    language: Mapped[str | None] = mapped_column(String(8))
    everyone: Mapped[bool] = mapped_column(Boolean, default=False)
    with_feedback: Mapped[bool] = mapped_column(Boolean, default=True)
    # Only participants who declared one of these stakeholder categories (None: no filter).
    categories: Mapped[list[str] | None] = mapped_column(JSON)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    targeted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tags: Mapped[list[NotificationTag]] = relationship(
        back_populates="notification", cascade="all, delete-orphan", lazy="selectin"
    )


class BroadcastDraft(Base):
    """A staff member's broadcast being composed, kept so that a restart loses nothing.

    One draft per staff member: /broadcast starts over. Buttons carry the token, so a button
    of an older draft is recognised as stale.
    """

    __tablename__ = "broadcast_drafts"

    token: Mapped[str] = mapped_column(String(16), primary_key=True)
    author_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    step: Mapped[str] = mapped_column(String(16))
    html: Mapped[str] = mapped_column(Text, default="")
    # A photo or document sent with the text: its kind, Telegram file id and file name.
    media_kind: Mapped[str | None] = mapped_column(String(16))
    media_file_id: Mapped[str | None] = mapped_column(String(255))
    media_file_name: Mapped[str | None] = mapped_column(String(255))
    # {"everyone": bool, "targets": [[kind, id], …], "language": …, "categories": […]}
    audience: Mapped[dict] = mapped_column(JSON, default=dict)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class NotificationTag(Base):
    __tablename__ = "notification_tags"

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    target_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)

    notification: Mapped[Notification] = relationship(back_populates="tags", lazy="raise")


class Worker(Base):
    """A running sender process; rows it claimed are its own while its heartbeat is fresh."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryPause(Base):
    """A pause Telegram asked for (429 retry_after), shared by every sender: none sends
    before `paused_until`."""

    __tablename__ = "delivery_pauses"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # "all": the whole bot
    paused_until: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    # Waiting for the subscriber's daily or weekly digest.
    HELD = "held"
    # Taken by a sender, not yet attempted: safe to hand back after a crash.
    CLAIMED = "claimed"
    # The request is (or was) in flight: after a crash Telegram may or may not have shown it.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    IN_DOUBT = "in_doubt"


class Delivery(Base):
    """One notification for one recipient, with its state.

    No foreign keys on notification_id and subscriber_id: PostgreSQL checks one row at a time,
    half the time of a 100k-recipient INSERT…SELECT. What they guaranteed is kept by the only
    writers: targeting locks the notification and holds the audience lock shared while it
    inserts (db.engine.hold_audience), /forget takes it exclusively, deletes the subscriber and
    then their deliveries, and
    only a broadcast nobody has been targeted for is ever deleted.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        # Also the index of a notification's deliveries (its leading column).
        UniqueConstraint("notification_id", "subscriber_id", name="uq_delivery"),
        Index("ix_deliveries_due", "state", "due_at", "id"),
        # Replies and reactions name a sent message: unsent rows (all new ones) stay out.
        Index(
            "ix_deliveries_message",
            "chat_id",
            "message_id",
            sqlite_where=text("message_id IS NOT NULL"),
            postgresql_where=text("message_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(Integer)  # notifications.id
    subscriber_id: Mapped[int] = mapped_column(Integer, index=True)  # subscribers.id
    chat_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(300))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reaction: Mapped[str | None] = mapped_column(String(16))
    reacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feed(Base):
    """A news source (RSS/Atom) the bot follows, with its polling state."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    # Empty until an operator names it or the first poll reads the feed's own title.
    title: Mapped[str] = mapped_column(String(300), default="")
    # The feed's language, informative: news reach every follower whatever their language.
    language: Mapped[str | None] = mapped_column(String(8))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_reason: Mapped[str | None] = mapped_column(String(500))
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Tags every item of this feed carries, besides those found by the keyword rules.
    default_strategies: Mapped[list[str]] = mapped_column(JSON, default=list)
    default_zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    interval_s: Mapped[int] = mapped_column(Integer, default=600)
    # Items notified at the first successful poll (the newest ones); the rest is only seen.
    first_poll_backlog: Mapped[int] = mapped_column(Integer, default=0)
    first_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_status: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(500))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SeenFeedItem(Base):
    """An item of a feed already handled (notified, or recorded without notifying).

    The identity comes from the item itself (feeds.identity), never from the feed's URL,
    so a feed that moves or re-orders its items notifies nothing twice.
    """

    __tablename__ = "seen_feed_items"
    __table_args__ = (UniqueConstraint("feed_id", "identity", name="uq_seen_feed_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(String(255))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), index=True
    )


class ConsentState(enum.StrEnum):
    GIVEN = "given"
    REFUSED = "refused"


class StakeholderCategory(enum.StrEnum):
    """Self-declared by the participant; only organisations can be verified by the staff."""

    CITIZEN = "citizen"
    COMUNE = "comune"
    ASSOCIATION = "association"
    BUSINESS = "business"
    THIRD_SECTOR = "third_sector"
    SCHOOL = "school_university"
    OTHER = "other"


class Participant(Base):
    """A subscriber's standing in the participation record: consent, pseudonym, profile.

    The pseudonym is random: the record never carries the Telegram id or name.
    """

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), unique=True
    )
    pseudonym: Mapped[str] = mapped_column(String(16), unique=True)
    consent: Mapped[str | None] = mapped_column(String(16))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    category: Mapped[str | None] = mapped_column(String(32))
    organisation: Mapped[str | None] = mapped_column(String(200))
    comune_istat: Mapped[str | None] = mapped_column(
        ForeignKey("comuni.istat", ondelete="SET NULL")
    )
    organisation_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_by: Mapped[int | None] = mapped_column(BigInteger)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class EntryKind(enum.StrEnum):
    REACTION = "reaction"  # 👍/👎 under a notification
    COMMENT = "comment"  # text about a notification (comment button or reply)
    FEEDBACK = "feedback"  # /feedback on a chosen strategy, zone, action or the plan
    FREE = "free"  # a reply to a bot message that is no (longer a) notification
    RSVP = "rsvp"  # I'll attend / maybe / no, for one of the plan's events


class RecordEntry(Base):
    """One contribution to the plan's participation record, with a stable reference.

    Profile fields are copied at the time of the contribution (the report describes who
    spoke then); /forget clears them together with the participant link.
    """

    __tablename__ = "record_entries"
    __table_args__ = (UniqueConstraint("year", "sequence", name="uq_record_entry_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    text_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), index=True
    )
    participant_category: Mapped[str | None] = mapped_column(String(32))
    participant_organisation: Mapped[str | None] = mapped_column(String(200))
    organisation_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    participant_comune: Mapped[str | None] = mapped_column(String(6))
    participant_zone: Mapped[str | None] = mapped_column(String(64))
    subject_kind: Mapped[str | None] = mapped_column(String(16))
    subject_id: Mapped[str | None] = mapped_column(String(255))
    subject_label: Mapped[str | None] = mapped_column(String(300))
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), index=True
    )
    notification_kind: Mapped[str | None] = mapped_column(String(16))
    # Internal: one reaction per delivery. Never exported; gone with the delivery.
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_reason: Mapped[str | None] = mapped_column(String(300))
    hidden_by: Mapped[int | None] = mapped_column(BigInteger)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    staff_reply: Mapped[str | None] = mapped_column(Text)
    staff_reply_by: Mapped[int | None] = mapped_column(BigInteger)
    staff_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when staff publish the entry (/publish): its text and the office's answer
    # (staff_reply) appear on the public pages. /hide and /forget clear it.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    published_by: Mapped[int | None] = mapped_column(BigInteger)

    tags: Mapped[list[RecordEntryTag]] = relationship(
        back_populates="entry", cascade="all, delete-orphan", lazy="selectin"
    )


class RecordEntryTag(Base):
    """What an entry is about (strategies, zones, comuni, actions): filters for the export."""

    __tablename__ = "record_entry_tags"
    __table_args__ = (Index("ix_record_entry_tags_target", "target_kind", "target_id"),)

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("record_entries.id", ondelete="CASCADE"), primary_key=True
    )
    target_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)

    entry: Mapped[RecordEntry] = relationship(back_populates="tags", lazy="raise")


class RecordCounter(Base):
    """The last reference number given in a year (P-<year>-<number>)."""

    __tablename__ = "record_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer)


class PromptPurpose(enum.StrEnum):
    COMMENT = "comment"
    ORGANISATION = "organisation"
    COMUNE = "comune"


class FeedbackPrompt(Base):
    """A question the bot asked and whose answer it waits for: a comment on a subject, or a
    profile field. The answer is a reply to the prompt's message, or the next text soon after."""

    __tablename__ = "feedback_prompts"
    __table_args__ = (Index("ix_feedback_prompts_message", "chat_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    subject_kind: Mapped[str | None] = mapped_column(String(16))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ActionStatus(enum.StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DELAYED = "delayed"
    COMPLETED = "completed"
    SUSPENDED = "suspended"


class PlanAction(Base):
    """One action of the plan as monitored: under a strategy, with its state and money."""

    __tablename__ = "plan_actions"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    strategy_id: Mapped[str] = mapped_column(ForeignKey("strategies.id"), index=True)
    title_it: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    description_it: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    # Ids of zones and ISTAT codes of comuni: few per action, read with the action.
    zone_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    comuni_istat: Mapped[list[str]] = mapped_column(JSON, default=list)
    responsible: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    progress_pct: Mapped[int] = mapped_column(Integer, default=0)
    # The progress last announced: small steps add up until they pass the threshold.
    notified_progress_pct: Mapped[int] = mapped_column(Integer, default=0)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    funding_source: Mapped[str | None] = mapped_column(String(100))
    funding_amount_eur: Mapped[float | None] = mapped_column(Numeric(14, 2, asdecimal=False))
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Demo and test data, shown as such to users.
    sample: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    indicators: Mapped[list[Indicator]] = relationship(
        back_populates="action",
        cascade="all, delete-orphan",
        order_by="Indicator.code",
        lazy="raise",
    )

    def title(self, language: str) -> str:
        return self.title_en if language == "en" else self.title_it

    def description(self, language: str) -> str | None:
        return (self.description_en if language == "en" else None) or self.description_it


class Indicator(Base):
    """What measures an action's result, from a baseline towards a target."""

    __tablename__ = "indicators"
    __table_args__ = (UniqueConstraint("action_code", "code", name="uq_indicator"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_code: Mapped[str] = mapped_column(
        ForeignKey("plan_actions.code", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(32))
    name_it: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))
    unit: Mapped[str | None] = mapped_column(String(32))
    baseline: Mapped[float | None] = mapped_column(Float)
    baseline_year: Mapped[int | None] = mapped_column(Integer)
    target: Mapped[float | None] = mapped_column(Float)
    target_year: Mapped[int | None] = mapped_column(Integer)

    action: Mapped[PlanAction] = relationship(back_populates="indicators", lazy="raise")
    measurements: Mapped[list[Measurement]] = relationship(
        back_populates="indicator",
        cascade="all, delete-orphan",
        order_by="Measurement.period",
        lazy="raise",
    )

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_it


class Measurement(Base):
    """An indicator's value for one period ("2024", "2024-06", "2024-Q2": sortable text)."""

    __tablename__ = "measurements"
    __table_args__ = (UniqueConstraint("indicator_id", "period", name="uq_measurement"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), index=True
    )
    period: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    indicator: Mapped[Indicator] = relationship(back_populates="measurements", lazy="raise")


class AnnualReview(Base):
    """The plan's yearly monitoring and update report."""

    __tablename__ = "annual_reviews"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    published_on: Mapped[date | None] = mapped_column(Date)
    summary_it: Mapped[str | None] = mapped_column(Text)
    summary_en: Mapped[str | None] = mapped_column(Text)
    document_url: Mapped[str | None] = mapped_column(String(2048))
    sample: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MonitoringSource(Base):
    """A remote monitoring dataset polled by URL, with its conditional-GET validators."""

    __tablename__ = "monitoring_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(500))


class EventKind(enum.StrEnum):
    MEETING = "meeting"
    NETWORK_MEETING = "network_meeting"
    ANNUAL_REVIEW = "annual_review"
    CONSULTATION = "consultation"  # a consultation or its deadline
    OTHER = "other"


class EventStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CHANGED = "changed"
    CANCELLED = "cancelled"


class EventSource(Base):
    """An iCalendar (.ics) URL polled like a feed; its events are imported by UID."""

    __tablename__ = "event_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    # Defaults of the imported events: who is told about them.
    zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    strategies: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """A meeting, review or consultation of the plan; times stored in UTC."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stable identity: the iCalendar UID (imported) or one made at creation.
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("event_sources.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32), default=EventKind.MEETING.value)
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.SCHEDULED.value)
    title_it: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str | None] = mapped_column(String(300))
    description_it: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    place: Mapped[str | None] = mapped_column(String(300))
    comune_istat: Mapped[str | None] = mapped_column(ForeignKey("comuni.istat"))
    online_url: Mapped[str | None] = mapped_column(String(2048))
    zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    strategies: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Grows when time or place changes: each change is notified once.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def title(self, language: str) -> str:
        return (self.title_en if language == "en" else None) or self.title_it

    def description(self, language: str) -> str | None:
        return (self.description_en if language == "en" else None) or self.description_it


class RsvpAnswer(enum.StrEnum):
    YES = "yes"
    MAYBE = "maybe"
    NO = "no"


class EventRsvp(Base):
    """One person's answer to one event, linked to its participation record entry."""

    __tablename__ = "event_rsvps"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    answer: Mapped[str] = mapped_column(String(8))
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("record_entries.id", ondelete="SET NULL")
    )
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffMember(Base):
    """A person granted staff rights by an administrator (administrators come from ADMIN_IDS)."""

    __tablename__ = "staff_members"

    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    granted_by: Mapped[int] = mapped_column(BigInteger)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffInvite(Base):
    """A one-time link `/start staff_<code>` that makes whoever opens it staff, until it expires."""

    __tablename__ = "staff_invites"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_by: Mapped[int | None] = mapped_column(BigInteger)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffAction(Base):
    """The audit log: who did what, when, with which details."""

    __tablename__ = "staff_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
