"""cut stored token display prefixes to what the display rule keeps now

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00

Until this revision an API token's and a calendar feed's display prefix was its first 12
characters: all of a short token someone chose, and much of a long one. The rule now keeps the
label and a few random characters (``app.core.security.display_prefix``). A stored prefix shorter
than 12 characters is the whole token, so the rule is applied to it exactly; a 12-character one
keeps its label and 2 characters, or 1 character without a label. Nothing is needed to undo it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_LENGTH = 12


def _shortened(prefix: str, label: str) -> str:
    from app.core.security import display_prefix

    if len(prefix) < OLD_LENGTH:
        return display_prefix(prefix, label)
    head = f"{label}_"
    return head + prefix[len(head):][:2] if prefix.startswith(head) else prefix[:1]


def upgrade() -> None:
    connection = op.get_bind()
    for table, label in (("api_tokens", "baton"), ("calendar_feeds", "batoncal")):
        rows = connection.execute(sa.text(f"SELECT id, prefix FROM {table}")).all()  # noqa: S608
        for row_id, prefix in rows:
            shortened = _shortened(prefix, label)
            if shortened != prefix:
                connection.execute(
                    sa.text(f"UPDATE {table} SET prefix = :prefix WHERE id = :id"),  # noqa: S608
                    {"prefix": shortened, "id": row_id},
                )


def downgrade() -> None:
    pass
