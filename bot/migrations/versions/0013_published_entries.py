"""published record entries: when and by whom staff published an entry (/publish)

Only published entries show their text (and the office's answer) on the public pages;
the index serves the pages' query of the latest published entries.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("record_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("published_by", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_record_entries_published_at"), ["published_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("record_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_entries_published_at"))
        batch_op.drop_column("published_by")
        batch_op.drop_column("published_at")
