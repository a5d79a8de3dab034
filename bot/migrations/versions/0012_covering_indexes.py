"""indexes that answer alone: subscriptions by target with subscriber_id, audience changes
by time with delta

Targeting and the /stats counts of followers read subscriptions by target only to know who
follows; /stats sums the audience changes of each period. With subscriber_id and delta in
the indexes, neither reads the table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_target")
        batch_op.create_index(
            "ix_subscriptions_target", ["target_kind", "target_id", "subscriber_id"], unique=False
        )
    with op.batch_alter_table("audience_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_audience_changes_occurred_at")
        batch_op.create_index(
            "ix_audience_changes_occurred_at", ["occurred_at", "delta"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audience_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_audience_changes_occurred_at")
        batch_op.create_index("ix_audience_changes_occurred_at", ["occurred_at"], unique=False)
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_target")
        batch_op.create_index("ix_subscriptions_target", ["target_kind", "target_id"], unique=False)
