"""notifications carry their send priority; the dispatcher asks when each person was last paged

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 19:00:00.000000

When more notifications are due than can be sent, the dispatcher takes a high-urgency first
page before repeats, summaries, low urgency and the rest (``notify.models.SendPriority``), and
within a class the least recently paged person first. Rows written before this revision: pages
still pending go first (they have waited longest), everything else is "other".
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="4")
        )
        batch_op.create_index("ix_notifications_user_sent", ["user_id", "sent_at"], unique=False)
    op.execute("UPDATE notifications SET priority = 0 WHERE kind = 'page' AND status = 'pending'")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("priority", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_sent")
        batch_op.drop_column("priority")
