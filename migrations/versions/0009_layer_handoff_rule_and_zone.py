"""layer versions get a hand-off rule and an optional time zone of their own

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00

``handoff_rule`` is ``wall_clock`` (hand-offs at the same local times) or ``elapsed`` (every
shift length of absolute time). Every existing version keeps the rule it was computed with until
now, so no answer changes: hour shifts counted elapsed time, day and week shifts kept the wall
clock. ``time_zone`` NULL means the schedule's zone, which is what every existing layer used.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RULE = sa.Enum(
    'wall_clock', 'elapsed', name='handoffrule', native_enum=False, create_constraint=True,
    length=16,
)


def upgrade() -> None:
    with op.batch_alter_table('schedule_layer_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handoff_rule', _RULE, nullable=True))
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE schedule_layer_versions SET handoff_rule = CASE shift_unit "
        "WHEN 'hours' THEN 'elapsed' ELSE 'wall_clock' END"
    )
    with op.batch_alter_table('schedule_layer_versions', schema=None) as batch_op:
        batch_op.alter_column('handoff_rule', existing_type=_RULE, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('schedule_layer_versions', schema=None) as batch_op:
        # SQLite rebuilds the table: the rule's CHECK constraint must go with its column.
        batch_op.drop_constraint(op.f('ck_schedule_layer_versions_handoffrule'), type_='check')
        batch_op.drop_column('time_zone')
        batch_op.drop_column('handoff_rule')
