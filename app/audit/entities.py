"""What the audit log records: which tables are configuration, and what of them it may keep.

Tables are named here, not imported, so this list is the whole policy in one place and no
domain has to know it is audited. A table that is not listed is not audited (incidents,
alerts, notifications, the engine's bookkeeping). ``tests/audit`` checks that every name below
is a real table and column.

Secrets never reach an audit row: a column whose name says it holds one (any ``_``-separated
part in :data:`SECRET_NAME_PARTS`, such as ``token_hash``, ``key_prefix``, ``signing_secret``,
``secret_encrypted``, ``verification_code_hash``) is written as ``"[redacted]"``, whether the
table lists it or not, so a secret column added later is redacted without anyone remembering
to; ``public`` names the few exceptions. ``ignore`` lists bookkeeping that is not a change of
configuration (last use, heartbeat state, what the Slack announcer last posted): a change to
those alone writes no row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EntityType(StrEnum):
    USER = "user"
    TEAM = "team"
    MEMBERSHIP = "membership"
    CONTACT_METHOD = "contact_method"
    STATUS_UPDATES = "status_updates"
    NOTIFICATION_RULE = "notification_rule"
    TOKEN = "token"  # noqa: S105 - an entity name, not a secret
    CALENDAR_FEED = "calendar_feed"
    ONCALL_PREFERENCES = "oncall_preferences"
    SCHEDULE = "schedule"
    LAYER = "layer"
    OVERRIDE = "override"
    ESCALATION_POLICY = "escalation_policy"
    SERVICE = "service"
    INTEGRATION = "integration"
    MAINTENANCE_WINDOW = "maintenance_window"
    SLACK_ANNOUNCEMENTS = "slack_announcements"
    SLACK_LINK = "slack_link"
    WEBHOOK_KEY = "webhook_key"
    DECLARATIVE_APPLY = "declarative_apply"
    READINESS_SETTINGS = "readiness_settings"
    TEAM_READINESS_ITEMS = "team_readiness_items"
    READINESS_SIGN_OFF = "readiness_sign_off"


REDACTED = "[redacted]"

SECRET_NAME_PARTS = frozenset(
    {"secret", "hash", "token", "password", "key", "prefix", "code", "encrypted"}
)

# Stamps every row has; the record's own time says when.
ALWAYS_IGNORED = frozenset({"created_at", "updated_at"})


def is_secret_column(name: str) -> bool:
    return not SECRET_NAME_PARTS.isdisjoint(name.lower().split("_"))


@dataclass(frozen=True)
class Audited:
    entity: EntityType
    # The column that identifies the row in the record (the primary key).
    id_column: str = "id"
    ignore: frozenset[str] = frozenset()
    # (column, action): the column going from NULL to a value is recorded as that action
    # ("revoked", "verified") rather than as a plain "updated".
    transitions: tuple[tuple[str, str], ...] = ()
    # Columns whose names look secret but hold public values (a key's public id).
    public: frozenset[str] = frozenset()


AUDITED_TABLES: dict[str, Audited] = {
    "users": Audited(EntityType.USER),
    "teams": Audited(EntityType.TEAM),
    "team_memberships": Audited(EntityType.MEMBERSHIP),
    "contact_methods": Audited(
        EntityType.CONTACT_METHOD,
        # A code being sent or tried is not a change of configuration; proving the address is.
        ignore=frozenset(
            {
                "verification_code_hash",
                "verification_sent_at",
                "verification_expires_at",
                "verification_attempts",
            }
        ),
        transitions=(("verified_at", "verified"), ("disabled_at", "disabled")),
    ),
    "status_update_subscriptions": Audited(
        EntityType.STATUS_UPDATES, id_column="contact_method_id"
    ),
    "notification_rules": Audited(EntityType.NOTIFICATION_RULE),
    "api_tokens": Audited(
        EntityType.TOKEN,
        ignore=frozenset({"last_used_at"}),
        transitions=(("revoked_at", "revoked"),),
    ),
    "calendar_feeds": Audited(
        EntityType.CALENDAR_FEED,
        ignore=frozenset({"last_used_at"}),
        transitions=(("revoked_at", "revoked"),),
    ),
    "oncall_preferences": Audited(EntityType.ONCALL_PREFERENCES, id_column="user_id"),
    # Every change bumps the revision (a cache key); the change itself is what is recorded.
    "schedules": Audited(EntityType.SCHEDULE, ignore=frozenset({"revision"})),
    "schedule_layers": Audited(EntityType.LAYER, transitions=(("deleted_at", "deleted"),)),
    "schedule_overrides": Audited(EntityType.OVERRIDE),
    "escalation_policies": Audited(EntityType.ESCALATION_POLICY),
    "services": Audited(EntityType.SERVICE),
    "integrations": Audited(
        EntityType.INTEGRATION,
        ignore=frozenset({"last_used_at", "last_ping_at", "heartbeat_state", "heartbeat_due_at"}),
        transitions=(("revoked_at", "revoked"),),
    ),
    "maintenance_windows": Audited(EntityType.MAINTENANCE_WINDOW),
    "slack_announcements": Audited(
        EntityType.SLACK_ANNOUNCEMENTS,
        # The announcer's memory of what it last said, not settings anyone chose.
        ignore=frozenset(
            {
                "announced_responders",
                "announced_at",
                "daily_posted_on",
                "usergroup_members",
                "topic",
                "claimed_until",
                "claim_token",
                "last_error",
            }
        ),
    ),
    "slack_user_links": Audited(EntityType.SLACK_LINK),
    # Launch requirements: the checklists and thresholds, and who signed what off.
    "readiness_settings": Audited(EntityType.READINESS_SETTINGS),
    "team_readiness_items": Audited(EntityType.TEAM_READINESS_ITEMS, id_column="team_id"),
    "readiness_sign_offs": Audited(EntityType.READINESS_SIGN_OFF, public=frozenset({"item_key"})),
    "webhook_signing_keys": Audited(
        EntityType.WEBHOOK_KEY,
        transitions=(("retires_at", "rotated"),),
        # Sent with every delivery; the secret is in secret_encrypted.
        public=frozenset({"key_id"}),
    ),
}


@dataclass(frozen=True)
class AuditedPart:
    """A table whose rows are part of another entity's record rather than records of their own.

    A layer's rotation lives in version rows (a new one for every change); the record of the
    layer shows the rotation before and after as one field.
    """

    entity: EntityType
    parent_column: str
    field: str
    # A row stops being the current one when this column goes from NULL to a value.
    closed_by: str
    # Columns that are history bookkeeping rather than the rotation itself.
    ignore: frozenset[str] = frozenset()


AUDITED_PARTS: dict[str, AuditedPart] = {
    "schedule_layer_versions": AuditedPart(
        EntityType.LAYER,
        parent_column="layer_id",
        field="rotation",
        closed_by="valid_until",
        ignore=frozenset({"valid_from", "valid_until", "created_by_id"}),
    ),
}

# Relationship collections recorded as one field of their parent's record: an escalation
# policy's ladder (steps and their targets) before and after.
AUDITED_COLLECTIONS: dict[str, tuple[str, ...]] = {"escalation_policies": ("steps",)}
