"""deliveries: no foreign keys to notifications and subscribers

PostgreSQL checks a foreign key with a trigger per inserted row: for a 100k-recipient
INSERT…SELECT, the two of them took as long as the insert itself. Targeting now locks the
rows they locked, once per statement, and /forget deletes what the cascade deleted.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("fk_deliveries_notification_id_notifications", type_="foreignkey")
        batch_op.drop_constraint("fk_deliveries_subscriber_id_subscribers", type_="foreignkey")


def downgrade() -> None:
    # Deliveries whose notification or subscriber is gone would fail the constraints.
    op.execute("DELETE FROM deliveries WHERE notification_id NOT IN (SELECT id FROM notifications)")
    op.execute("DELETE FROM deliveries WHERE subscriber_id NOT IN (SELECT id FROM subscribers)")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_deliveries_notification_id_notifications",
            "notifications",
            ["notification_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            "fk_deliveries_subscriber_id_subscribers",
            "subscribers",
            ["subscriber_id"],
            ["id"],
            ondelete="CASCADE",
        )
