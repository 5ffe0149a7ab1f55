"""deploys: change events and deploy reports, the deploy watch, incidents linked to deploys

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:00:00.000000

Services get their watch settings (30 minutes, the deployer told by an FYI: the defaults every
existing service takes); incidents remember the deploy they opened after; integrations gain the
``github`` kind and its encrypted webhook secret.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_KINDS_BEFORE = ("alertmanager", "grafana", "pagerduty", "generic", "heartbeat")


def _enum(name: str, *values: str, length: int) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("deploy_watch_minutes", sa.Integer(), nullable=False, server_default="30")
        )
        batch_op.add_column(
            sa.Column(
                "deployer_notice",
                _enum("deployernotice", "off", "notify", "page", length=8),
                nullable=False,
                server_default="notify",
            )
        )
        batch_op.add_column(
            sa.Column(
                "deploy_watch_environments", _JSON, nullable=False, server_default=sa.text("'[]'")
            )
        )
        batch_op.create_check_constraint(
            "deploy_watch_range", "deploy_watch_minutes >= 0 AND deploy_watch_minutes <= 1440"
        )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.alter_column("deploy_watch_minutes", server_default=None)
        batch_op.alter_column("deployer_notice", server_default=None)
        batch_op.alter_column("deploy_watch_environments", server_default=None)

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nearby_deploy", _JSON, nullable=True))

    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("webhook_secret_encrypted", sa.String(length=500), nullable=True)
        )
        batch_op.alter_column(
            "kind",
            existing_type=_enum("integrationkind", *_KINDS_BEFORE, length=16),
            type_=_enum("integrationkind", *_KINDS_BEFORE, "github", length=16),
            existing_nullable=False,
        )

    op.create_table(
        "deployments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("service_id", _ID, nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("previous_version", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.String(length=1024), nullable=False),
        sa.Column("commit_sha", sa.String(length=64), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("repository_url", sa.String(length=2048), nullable=False),
        sa.Column("deployer_user_id", _ID, nullable=True),
        sa.Column("deployer_name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            _enum("deploystatus", "started", "succeeded", "failed", "rolled_back", length=16),
            nullable=False,
        ),
        sa.Column(
            "source",
            _enum("deploysource", "api", "cli", "pagerduty", "github", length=16),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("links", _JSON, nullable=False),
        sa.Column("details", _JSON, nullable=False),
        sa.Column("suspect", sa.Boolean(), nullable=False),
        sa.Column("caused_incident", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_deployments_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deployer_user_id"],
            ["users.id"],
            name=op.f("fk_deployments_deployer_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint(
            "service_id", "external_id", name=op.f("uq_deployments_service_id_external_id")
        ),
    )
    op.create_index("ix_deployments_service_started", "deployments", ["service_id", "started_at"])
    op.create_index("ix_deployments_deployer_user_id", "deployments", ["deployer_user_id"])

    op.create_table(
        "incident_deploys",
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("deployment_id", _ID, nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes_after_deploy", sa.Integer(), nullable=False),
        sa.Column(
            "verdict",
            _enum("causeverdict", "suspected", "confirmed", "rejected", length=16),
            nullable=False,
        ),
        sa.Column("judged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("judged_by_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_deploys_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_incident_deploys_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["judged_by_id"],
            ["users.id"],
            name=op.f("fk_incident_deploys_judged_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("incident_id", "deployment_id", name=op.f("pk_incident_deploys")),
    )
    op.create_index("ix_incident_deploys_deployment", "incident_deploys", ["deployment_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_deploys_deployment", table_name="incident_deploys")
    op.drop_table("incident_deploys")
    op.drop_index("ix_deployments_deployer_user_id", table_name="deployments")
    op.drop_index("ix_deployments_service_started", table_name="deployments")
    op.drop_table("deployments")
    op.execute("DELETE FROM integrations WHERE kind = 'github'")
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=_enum("integrationkind", *_KINDS_BEFORE, "github", length=16),
            type_=_enum("integrationkind", *_KINDS_BEFORE, length=16),
            existing_nullable=False,
        )
        batch_op.drop_column("webhook_secret_encrypted")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("nearby_deploy")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_constraint("deploy_watch_range", type_="check")
        batch_op.alter_column(
            "deployer_notice",
            existing_type=_enum("deployernotice", "off", "notify", "page", length=8),
            type_=sa.String(length=8),
            existing_nullable=False,
        )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("deploy_watch_environments")
        batch_op.drop_column("deployer_notice")
        batch_op.drop_column("deploy_watch_minutes")
