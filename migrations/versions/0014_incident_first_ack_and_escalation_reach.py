"""incidents remember their first acknowledgement and whether escalation went past step 1

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 09:00:00.000000

The metrics (MTTA, the escalation rate) read them off the incident row instead of folding every
incident's timeline. Existing incidents are filled in from their typed events: the earliest
``acknowledged`` event, and any ``escalated`` event at a step or pass past the first.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_acknowledged_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "escalated_past_first_step",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    op.execute(
        "UPDATE incidents SET first_acknowledged_at = (SELECT min(e.at) FROM incident_events e "
        "WHERE e.incident_id = incidents.id AND e.kind = 'acknowledged')"
    )
    if op.get_context().dialect.name == "postgresql":
        step = "(e.data->>'step')::int"
        loop = "(e.data->>'loop')::int"
    else:
        step = "json_extract(e.data, '$.step')"
        loop = "json_extract(e.data, '$.loop')"
    op.execute(
        "UPDATE incidents SET escalated_past_first_step = true WHERE EXISTS (SELECT 1 FROM "
        f"incident_events e WHERE e.incident_id = incidents.id AND e.kind = 'escalated' AND "
        f"({step} >= 1 OR {loop} >= 1))"
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.alter_column("escalated_past_first_step", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("escalated_past_first_step")
        batch_op.drop_column("first_acknowledged_at")
