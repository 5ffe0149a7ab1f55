"""webhook signing keys per owner; escalation-exhausted fallback per service

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:10:00

Every existing webhook contact method and every (policy, URL) an escalation policy names gets a
fresh random signing key. The key Baton derived from the URL before this revision stays valid as
a retiring key for BATON_WEBHOOK_KEY_GRACE_HOURS, so receivers keep verifying deliveries while
their owners fetch the new key.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('webhook_signing_keys',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('contact_method_id', _ID, nullable=True),
    sa.Column('escalation_policy_id', _ID, nullable=True),
    sa.Column('address', sa.String(length=2048), nullable=True),
    sa.Column('secret_encrypted', sa.String(length=512), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retires_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(contact_method_id IS NOT NULL AND escalation_policy_id IS NULL AND address IS NULL) OR (contact_method_id IS NULL AND escalation_policy_id IS NOT NULL AND address IS NOT NULL)', name=op.f('ck_webhook_signing_keys_one_owner')),
    sa.ForeignKeyConstraint(['contact_method_id'], ['contact_methods.id'], name=op.f('fk_webhook_signing_keys_contact_method_id_contact_methods'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['escalation_policy_id'], ['escalation_policies.id'], name=op.f('fk_webhook_signing_keys_escalation_policy_id_escalation_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_signing_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_webhook_signing_keys_key_id'))
    )
    with op.batch_alter_table('webhook_signing_keys', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_keys_method', ['contact_method_id'], unique=False)
        batch_op.create_index('ix_webhook_keys_target', ['escalation_policy_id', 'address'], unique=False)
        batch_op.create_index('uq_webhook_keys_current_method', ['contact_method_id'], unique=True, postgresql_where=sa.text('retires_at IS NULL AND contact_method_id IS NOT NULL'), sqlite_where=sa.text('retires_at IS NULL AND contact_method_id IS NOT NULL'))
        batch_op.create_index('uq_webhook_keys_current_target', ['escalation_policy_id', 'address'], unique=True, postgresql_where=sa.text('retires_at IS NULL AND escalation_policy_id IS NOT NULL'), sqlite_where=sa.text('retires_at IS NULL AND escalation_policy_id IS NOT NULL'))

    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fallback_email', sa.String(length=320), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('fallback_slack_channel', sa.String(length=80), nullable=False, server_default=''))
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.alter_column('fallback_email', server_default=None)
        batch_op.alter_column('fallback_slack_channel', server_default=None)

    _issue_keys_for_existing_webhooks()


def _issue_keys_for_existing_webhooks() -> None:
    from app.core.settings import load_settings
    from app.notify.webhook import legacy_signing_key
    from app.notify.webhook_keys import WebhookSigning, new_key_id, new_secret

    settings = load_settings()
    secret_key = settings.secret_key.get_secret_value()
    signing = WebhookSigning(secret_key, timedelta(hours=settings.webhook_key_grace_hours))
    connection = op.get_bind()
    owners = [
        {'contact_method_id': method_id, 'escalation_policy_id': None, 'address': None, 'url': url}
        for method_id, url in connection.execute(
            sa.text("SELECT id, address FROM contact_methods WHERE type = 'webhook'")
        )
    ]
    owners += [
        {'contact_method_id': None, 'escalation_policy_id': policy_id, 'address': url, 'url': url}
        for policy_id, url in connection.execute(
            sa.text(
                "SELECT DISTINCT s.policy_id, t.address FROM escalation_targets t "
                "JOIN escalation_steps s ON s.id = t.step_id WHERE t.kind = 'webhook'"
            )
        )
    ]
    if not owners:
        return
    now = datetime.now(UTC)
    keys = sa.table(
        'webhook_signing_keys',
        sa.column('key_id'), sa.column('contact_method_id'), sa.column('escalation_policy_id'),
        sa.column('address'), sa.column('secret_encrypted'), sa.column('created_at'),
        sa.column('retires_at'),
    )
    rows = []
    for owner in owners:
        base = {k: owner[k] for k in ('contact_method_id', 'escalation_policy_id', 'address')}
        legacy = legacy_signing_key(secret_key, owner['url'])
        rows.append({**base, 'key_id': new_key_id(), 'secret_encrypted': signing.box.encrypt(legacy),
                     'created_at': now - timedelta(seconds=1), 'retires_at': now + signing.grace})
        rows.append({**base, 'key_id': new_key_id(), 'secret_encrypted': signing.box.encrypt(new_secret()),
                     'created_at': now, 'retires_at': None})
    op.bulk_insert(keys, rows)


def downgrade() -> None:
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_column('fallback_slack_channel')
        batch_op.drop_column('fallback_email')
    with op.batch_alter_table('webhook_signing_keys', schema=None) as batch_op:
        batch_op.drop_index('uq_webhook_keys_current_target', postgresql_where=sa.text('retires_at IS NULL AND escalation_policy_id IS NOT NULL'), sqlite_where=sa.text('retires_at IS NULL AND escalation_policy_id IS NOT NULL'))
        batch_op.drop_index('uq_webhook_keys_current_method', postgresql_where=sa.text('retires_at IS NULL AND contact_method_id IS NOT NULL'), sqlite_where=sa.text('retires_at IS NULL AND contact_method_id IS NOT NULL'))
        batch_op.drop_index('ix_webhook_keys_target')
        batch_op.drop_index('ix_webhook_keys_method')
    op.drop_table('webhook_signing_keys')
