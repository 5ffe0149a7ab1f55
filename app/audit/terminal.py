"""Audit records as terminal lines: ``baton audit``."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from app.audit.models import ActorKind, AuditRecord

MAX_VALUE = 60


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def actor_text(record: AuditRecord) -> str:
    if record.actor_kind is not ActorKind.USER:
        return record.actor_label or record.actor_kind.value
    text = f"user {record.actor_user_id}"
    details = [f"token {record.actor_token_id}"] if record.actor_token_id is not None else []
    if record.channel != "api":
        details.append(record.channel)
    return text + (f" ({', '.join(details)})" if details else "")


def changes_text(record: AuditRecord) -> str:
    before, after = record.before or {}, record.after or {}
    if record.before is None:
        return ", ".join(f"{name}={_value(value)}" for name, value in after.items())
    if record.after is None:
        return ", ".join(f"{name}={_value(value)}" for name, value in before.items())
    names = [*before, *(n for n in after if n not in before)]
    return ", ".join(f"{n}: {_value(before.get(n))} → {_value(after.get(n))}" for n in names)


def record_line(record: AuditRecord) -> str:
    at = record.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entity = record.entity_type + (f" {record.entity_id}" if record.entity_id is not None else "")
    changes = changes_text(record)
    return f"{at}  #{record.id}  {actor_text(record)}  {record.action} {entity}" + (
        f": {changes}" if changes else ""
    )


def record_json(record: AuditRecord) -> str:
    return json.dumps(
        {
            "id": record.id,
            "at": record.at.astimezone(UTC).isoformat(),
            "actor_kind": record.actor_kind.value,
            "actor_user_id": record.actor_user_id,
            "actor_token_id": record.actor_token_id,
            "actor_label": record.actor_label,
            "channel": record.channel,
            "request_id": record.request_id,
            "entity_type": record.entity_type,
            "entity_id": record.entity_id,
            "action": record.action,
            "before": record.before,
            "after": record.after,
        },
        ensure_ascii=False,
    )
