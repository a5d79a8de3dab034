"""participation record: participants (consent, profile), entries with references, prompts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "record_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_record_counters")),
    )
    _create_participants()
    _create_feedback_prompts()
    _create_record_entries()
    op.create_table(
        "record_entry_tags",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["record_entries.id"],
            name=op.f("fk_record_entry_tags_entry_id_record_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "entry_id", "target_kind", "target_id", name=op.f("pk_record_entry_tags")
        ),
    )
    with op.batch_alter_table("record_entry_tags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_record_entry_tags_target", ["target_kind", "target_id"], unique=False
        )


def _create_participants() -> None:
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=16), nullable=False),
        sa.Column("consent", sa.String(length=16), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        sa.Column("comune_istat", sa.String(length=6), nullable=True),
        sa.Column("organisation_verified", sa.Boolean(), nullable=False),
        sa.Column("verified_by", sa.BigInteger(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comune_istat"],
            ["comuni.istat"],
            name=op.f("fk_participants_comune_istat_comuni"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_participants_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
        sa.UniqueConstraint("pseudonym", name=op.f("uq_participants_pseudonym")),
        sa.UniqueConstraint("subscriber_id", name=op.f("uq_participants_subscriber_id")),
    )


def _create_feedback_prompts() -> None:
    op.create_table(
        "feedback_prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("subject_kind", sa.String(length=16), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_feedback_prompts_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_feedback_prompts_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_prompts")),
    )
    with op.batch_alter_table("feedback_prompts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_prompts_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index(
            "ix_feedback_prompts_message", ["chat_id", "message_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_feedback_prompts_subscriber_id"), ["subscriber_id"], unique=False
        )


def _create_record_entries() -> None:
    op.create_table(
        "record_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("text_truncated", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("participant_category", sa.String(length=32), nullable=True),
        sa.Column("participant_organisation", sa.String(length=200), nullable=True),
        sa.Column("organisation_verified", sa.Boolean(), nullable=False),
        sa.Column("participant_comune", sa.String(length=6), nullable=True),
        sa.Column("participant_zone", sa.String(length=64), nullable=True),
        sa.Column("subject_kind", sa.String(length=16), nullable=True),
        sa.Column("subject_id", sa.String(length=255), nullable=True),
        sa.Column("subject_label", sa.String(length=300), nullable=True),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("notification_kind", sa.String(length=16), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("hidden_reason", sa.String(length=300), nullable=True),
        sa.Column("hidden_by", sa.BigInteger(), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("staff_reply", sa.Text(), nullable=True),
        sa.Column("staff_reply_by", sa.BigInteger(), nullable=True),
        sa.Column("staff_reply_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_record_entries_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_record_entries_notification_id_notifications"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_record_entries_participant_id_participants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_entries")),
        sa.UniqueConstraint("reference", name=op.f("uq_record_entries_reference")),
        sa.UniqueConstraint("year", "sequence", name="uq_record_entry_number"),
    )
    with op.batch_alter_table("record_entries", schema=None) as batch_op:
        for column in ("created_at", "delivery_id", "notification_id", "participant_id"):
            batch_op.create_index(batch_op.f(f"ix_record_entries_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("record_entry_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_record_entry_tags_target")
    op.drop_table("record_entry_tags")
    with op.batch_alter_table("record_entries", schema=None) as batch_op:
        for column in ("participant_id", "notification_id", "delivery_id", "created_at"):
            batch_op.drop_index(batch_op.f(f"ix_record_entries_{column}"))
    op.drop_table("record_entries")
    with op.batch_alter_table("feedback_prompts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_prompts_subscriber_id"))
        batch_op.drop_index("ix_feedback_prompts_message")
        batch_op.drop_index(batch_op.f("ix_feedback_prompts_delivery_id"))
    op.drop_table("feedback_prompts")
    op.drop_table("participants")
    op.drop_table("record_counters")
