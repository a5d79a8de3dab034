"""deliveries: no index of its own on notification_id, sent messages only in ix_deliveries_message

Targeting inserts one row per recipient, each into every index of the table. The unique
(notification_id, subscriber_id) already serves lookups by notification; a new row has no
message id yet, so the index of sent messages need not hold it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENT = sa.text("message_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_notification_id")
        batch_op.drop_index("ix_deliveries_message")
        batch_op.create_index(
            "ix_deliveries_message",
            ["chat_id", "message_id"],
            unique=False,
            sqlite_where=SENT,
            postgresql_where=SENT,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_message")
        batch_op.create_index("ix_deliveries_message", ["chat_id", "message_id"], unique=False)
        batch_op.create_index("ix_deliveries_notification_id", ["notification_id"], unique=False)
