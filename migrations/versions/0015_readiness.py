"""readiness: launch requirements, hand-over to Ops and handback to Dev

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 18:16:39.779136

The organisation's checklist and handback thresholds (``readiness_settings``, one row; none
until an admin sets them: Baton's defaults), teams' additions, sign-offs, stored evaluations
(one nightly per service and day: the unique key is the claim across replicas), hand-over
requests, handback proposals and the transitions between them. Services learn their Ops team,
when their support model began, the developers' policy kept for a handback, and whether an
unanswered proposal takes effect; teams get the channel those posts go to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "readiness_settings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("items", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column(
            "thresholds", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_settings")),
    )
    op.create_table(
        "team_readiness_items",
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "items", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_readiness_items_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_team_readiness_items")),
    )
    op.create_table(
        "handback_proposals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "breaches", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "accepted",
                "declined",
                "withdrawn",
                "accepted_on_silence",
                "closed",
                name="requeststate",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "decided_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_handback_proposals_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_handback_proposals_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handback_proposals")),
    )
    with op.batch_alter_table("handback_proposals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_handback_proposals_service_state", ["service_id", "state"], unique=False
        )

    op.create_table(
        "handover_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "ops_team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "requested_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "accepted",
                "declined",
                "withdrawn",
                "accepted_on_silence",
                "closed",
                name="requeststate",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "decided_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_handover_requests_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ops_team_id"],
            ["teams.id"],
            name=op.f("fk_handover_requests_ops_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_handover_requests_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_handover_requests_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handover_requests")),
    )
    with op.batch_alter_table("handover_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_handover_requests_service_state", ["service_id", "state"], unique=False
        )

    op.create_table(
        "readiness_evaluations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "trigger",
            sa.Enum(
                "nightly",
                "on_demand",
                "handover",
                name="trigger",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("nightly_day", sa.Date(), nullable=True),
        sa.Column("support_model", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column(
            "results", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_readiness_evaluations_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_evaluations")),
        sa.UniqueConstraint(
            "service_id",
            "nightly_day",
            name=op.f("uq_readiness_evaluations_service_id_nightly_day"),
        ),
    )
    with op.batch_alter_table("readiness_evaluations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_readiness_evaluations_service_at", ["service_id", "evaluated_at"], unique=False
        )

    op.create_table(
        "readiness_sign_offs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("item_key", sa.String(length=64), nullable=False),
        sa.Column(
            "signed_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("signed_by_name", sa.String(length=200), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_readiness_sign_offs_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signed_by_id"],
            ["users.id"],
            name=op.f("fk_readiness_sign_offs_signed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_sign_offs")),
        sa.UniqueConstraint(
            "service_id", "item_key", name=op.f("uq_readiness_sign_offs_service_id_item_key")
        ),
    )
    op.create_table(
        "service_transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "direction",
            sa.Enum(
                "handover",
                "handback",
                name="direction",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("from_support", sa.String(length=8), nullable=False),
        sa.Column("to_support", sa.String(length=8), nullable=False),
        sa.Column(
            "from_policy_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "to_policy_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "ops_team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "decided_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("decided_by_name", sa.String(length=200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column(
            "evidence", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "handover_request_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "handback_proposal_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_service_transitions_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["from_policy_id"],
            ["escalation_policies.id"],
            name=op.f("fk_service_transitions_from_policy_id_escalation_policies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["handback_proposal_id"],
            ["handback_proposals.id"],
            name=op.f("fk_service_transitions_handback_proposal_id_handback_proposals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["handover_request_id"],
            ["handover_requests.id"],
            name=op.f("fk_service_transitions_handover_request_id_handover_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ops_team_id"],
            ["teams.id"],
            name=op.f("fk_service_transitions_ops_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_transitions_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_policy_id"],
            ["escalation_policies.id"],
            name=op.f("fk_service_transitions_to_policy_id_escalation_policies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_transitions")),
    )
    with op.batch_alter_table("service_transitions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_service_transitions_service_at", ["service_id", "decided_at"], unique=False
        )

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "ops_team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("support_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "developer_policy_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "handback_on_silence", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.create_index(batch_op.f("ix_services_ops_team_id"), ["ops_team_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_services_ops_team_id_teams"),
            "teams",
            ["ops_team_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_services_developer_policy_id_escalation_policies"),
            "escalation_policies",
            ["developer_policy_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("slack_channel", sa.String(length=80), nullable=False, server_default="")
        )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.alter_column("handback_on_silence", server_default=None)
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.alter_column("slack_channel", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("slack_channel")

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_services_developer_policy_id_escalation_policies"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_services_ops_team_id_teams"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_services_ops_team_id"))
        batch_op.drop_column("handback_on_silence")
        batch_op.drop_column("developer_policy_id")
        batch_op.drop_column("support_since")
        batch_op.drop_column("ops_team_id")

    with op.batch_alter_table("service_transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_service_transitions_service_at")

    op.drop_table("service_transitions")
    op.drop_table("readiness_sign_offs")
    with op.batch_alter_table("readiness_evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_readiness_evaluations_service_at")

    op.drop_table("readiness_evaluations")
    with op.batch_alter_table("handover_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_handover_requests_service_state")

    op.drop_table("handover_requests")
    with op.batch_alter_table("handback_proposals", schema=None) as batch_op:
        batch_op.drop_index("ix_handback_proposals_service_state")

    op.drop_table("handback_proposals")
    op.drop_table("team_readiness_items")
    op.drop_table("readiness_settings")
