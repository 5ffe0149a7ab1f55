"""reviews: incident reviews, action items, review policy, team digests

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-19 09:00:00.000000

Services get their review policy (a review for high-urgency incidents open longer than 30
minutes and for every incident linked to a deploy; the owner nudged after 3 days); teams get
their zone and weekly digest settings (Mondays at 09:00 UTC, no channel or address yet);
``team_digests`` marks a week's digest as sent, once per team and week.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _enum(name: str, *values: str, length: int) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def _stamp(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("review_after_minutes", sa.Integer(), nullable=False, server_default="30")
        )
        batch_op.add_column(
            sa.Column("review_nudge_days", sa.Integer(), nullable=False, server_default="3")
        )
        batch_op.create_check_constraint(
            "review_after_range", "review_after_minutes >= 0 AND review_after_minutes <= 10080"
        )
        batch_op.create_check_constraint(
            "review_nudge_range", "review_nudge_days >= 1 AND review_nudge_days <= 90"
        )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.alter_column("review_after_minutes", server_default=None)
        batch_op.alter_column("review_nudge_days", server_default=None)

    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC")
        )
        batch_op.add_column(
            sa.Column("digest_weekday", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("digest_time", sa.String(length=5), nullable=False, server_default="09:00")
        )
        batch_op.add_column(
            sa.Column(
                "digest_slack_channel", sa.String(length=80), nullable=False, server_default=""
            )
        )
        batch_op.add_column(
            sa.Column("digest_email", sa.String(length=320), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column(
                "digest_enabled", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
        batch_op.create_check_constraint(
            "digest_weekday_range", "digest_weekday >= 0 AND digest_weekday <= 6"
        )
    with op.batch_alter_table("teams", schema=None) as batch_op:
        for column in (
            "time_zone",
            "digest_weekday",
            "digest_time",
            "digest_slack_channel",
            "digest_email",
            "digest_enabled",
        ):
            batch_op.alter_column(column, server_default=None)

    op.create_table(
        "reviews",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column(
            "state",
            _enum("reviewstate", "draft", "in_review", "published", length=16),
            nullable=False,
        ),
        sa.Column(
            "severity",
            _enum("severity", "", "sev1", "sev2", "sev3", "sev4", length=8),
            nullable=False,
        ),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("customer_impact", sa.Text(), nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=False),
        sa.Column("contributing_factors", sa.Text(), nullable=False),
        sa.Column("went_well", sa.Text(), nullable=False),
        sa.Column("went_badly", sa.Text(), nullable=False),
        sa.Column("lessons", sa.Text(), nullable=False),
        sa.Column("owner_id", _ID, nullable=True),
        _stamp("published_at"),
        sa.Column("published_by_id", _ID, nullable=True),
        _stamp("nudged_at"),
        _stamp("created_at", nullable=False),
        _stamp("updated_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_reviews_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_reviews_owner_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["users.id"],
            name=op.f("fk_reviews_published_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_reviews_incident_id")),
    )
    op.create_index("ix_reviews_owner_id", "reviews", ["owner_id"])

    op.create_table(
        "action_items",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("review_id", _ID, nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("owner_id", _ID, nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column(
            "status",
            _enum("actionstatus", "open", "done", "cancelled", length=16),
            nullable=False,
        ),
        sa.Column("tracker_url", sa.String(length=2048), nullable=False),
        _stamp("completed_at"),
        _stamp("due_reminded_at"),
        _stamp("overdue_reminded_at"),
        _stamp("created_at", nullable=False),
        _stamp("updated_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_action_items_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_action_items_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_items")),
    )
    op.create_index("ix_action_items_review_id", "action_items", ["review_id"])
    op.create_index("ix_action_items_owner_id", "action_items", ["owner_id"])
    op.create_index("ix_action_items_status_due", "action_items", ["status", "due_date"])

    op.create_table(
        "team_digests",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("team_id", _ID, nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        _stamp("sent_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_digests_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_digests")),
        sa.UniqueConstraint(
            "team_id", "week_start", name=op.f("uq_team_digests_team_id_week_start")
        ),
    )


def downgrade() -> None:
    op.drop_table("team_digests")
    op.drop_index("ix_action_items_status_due", table_name="action_items")
    op.drop_index("ix_action_items_owner_id", table_name="action_items")
    op.drop_index("ix_action_items_review_id", table_name="action_items")
    op.drop_table("action_items")
    op.drop_index("ix_reviews_owner_id", table_name="reviews")
    op.drop_table("reviews")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_constraint("digest_weekday_range", type_="check")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        for column in (
            "digest_enabled",
            "digest_email",
            "digest_slack_channel",
            "digest_time",
            "digest_weekday",
            "time_zone",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_constraint("review_nudge_range", type_="check")
        batch_op.drop_constraint("review_after_range", type_="check")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("review_nudge_days")
        batch_op.drop_column("review_after_minutes")
