"""Reference data of the plan (strategies, zones, comuni), subscribers and subscriptions.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "strategies",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name_it", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_strategies"),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("label_detail", sa.String(300), nullable=True),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_zones"),
    )
    op.create_table(
        "comuni",
        sa.Column("istat", sa.String(6), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("zone_id", sa.String(64), nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("zone_basis", sa.String(64), nullable=True),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name="fk_comuni_zone_id_zones"),
        sa.PrimaryKeyConstraint("istat", name="pk_comuni"),
    )
    op.create_index("ix_comuni_name", "comuni", ["name"])
    op.create_index("ix_comuni_zone_id", "comuni", ["zone_id"])
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("first_name", sa.String(200), nullable=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("telegram_user_id", name="uq_subscribers_telegram_user_id"),
        sa.UniqueConstraint("chat_id", name="uq_subscribers_chat_id"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_subscriptions_subscriber_id_subscribers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.UniqueConstraint("subscriber_id", "target_kind", "target_id", name="uq_subscription"),
    )
    op.create_index("ix_subscriptions_subscriber_id", "subscriptions", ["subscriber_id"])
    op.create_index("ix_subscriptions_target", "subscriptions", ["target_kind", "target_id"])


def downgrade() -> None:
    op.drop_table("subscriptions")
    op.drop_table("subscribers")
    op.drop_table("comuni")
    op.drop_table("zones")
    op.drop_table("strategies")
