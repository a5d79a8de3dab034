"""broadcast drafts kept across restarts, stakeholder-category audiences, audience history

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcast_drafts",
        sa.Column("token", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("media_kind", sa.String(length=16), nullable=True),
        sa.Column("media_file_id", sa.String(length=255), nullable=True),
        sa.Column("media_file_name", sa.String(length=255), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_broadcast_drafts")),
        sa.UniqueConstraint("author_id", name=op.f("uq_broadcast_drafts_author_id")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("categories", sa.JSON(), nullable=True))
    audience_changes = op.create_table(
        "audience_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_changes")),
    )
    with op.batch_alter_table("audience_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audience_changes_occurred_at"), ["occurred_at"], unique=False
        )
    _backfill(audience_changes)


def _backfill(audience_changes: sa.Table) -> None:
    """The history known so far: everyone joined when created; who is inactive left when
    blocked (or at their last update, the best date there is)."""
    subscribers = sa.table(
        "subscribers",
        sa.column("active", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("blocked_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    columns = ["occurred_at", "delta", "reason"]
    joined = sa.select(subscribers.c.created_at, sa.literal(1), sa.literal("joined"))
    left = sa.select(
        sa.func.coalesce(subscribers.c.blocked_at, subscribers.c.updated_at),
        sa.literal(-1),
        sa.literal("blocked"),
    ).where(subscribers.c.active.is_(False))
    op.execute(audience_changes.insert().from_select(columns, joined))
    op.execute(audience_changes.insert().from_select(columns, left))


def downgrade() -> None:
    with op.batch_alter_table("audience_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audience_changes_occurred_at"))
    op.drop_table("audience_changes")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("categories")
    op.drop_table("broadcast_drafts")
