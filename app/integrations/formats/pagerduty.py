"""PagerDuty Events API v2 compatible events (``/v2/enqueue``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from app.alerts.grouping import AlertAction, InboundAlert, InboundBatch, normalize_severity
from app.integrations.formats.common import InvalidPayload, clip, load_json_object, parse_time

SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = {
    "trigger": AlertAction.TRIGGER,
    "acknowledge": AlertAction.ACKNOWLEDGE,
    "resolve": AlertAction.RESOLVE,
}


@dataclass(frozen=True)
class PagerDutyEvent:
    routing_key: str
    batch: InboundBatch
    dedup_key: str


def parse(body: bytes) -> PagerDutyEvent:
    data = load_json_object(body)
    errors: list[str] = []
    routing_key = data.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key:
        errors.append("'routing_key' is missing or blank")
    action = data.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup_key = data.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append(f"'dedup_key' is required to {action}")
    payload = data.get("payload")
    if action == "trigger":
        errors += _payload_errors(payload)
    if errors:
        raise InvalidPayload("Event object is invalid", errors)
    key = dedup_key or uuid.uuid4().hex
    alert = _alert(ACTIONS[action], key, payload if action == "trigger" else {}, data)
    return PagerDutyEvent(
        routing_key=routing_key, batch=InboundBatch(alerts=(alert,)), dedup_key=key
    )


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is required to trigger"]
    errors = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > 1024:
        errors.append("'payload.summary' is longer than 1024 characters")
    source = payload.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' must be one of critical, error, warning, info")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict | str):
        errors.append("'payload.custom_details' must be an object")
    try:
        parse_time(payload.get("timestamp"), "payload.timestamp")
    except InvalidPayload as exc:
        errors.append(f"'payload.timestamp' {exc.detail}")
    return errors


def _alert(
    action: AlertAction, key: str, payload: dict[str, Any], data: dict[str, Any]
) -> InboundAlert:
    links = [
        {"href": link["href"], "text": str(link.get("text", ""))}
        for link in data.get("links") or []
        if isinstance(link, dict) and isinstance(link.get("href"), str)
    ]
    if isinstance(data.get("client_url"), str):
        links.append({"href": data["client_url"], "text": str(data.get("client") or "Client")})
    details = {
        name: payload[name]
        for name in ("component", "group", "class", "custom_details", "timestamp")
        if name in payload
    }
    if data.get("images"):
        details["images"] = data["images"]
    return InboundAlert(
        dedup_key=key,
        action=action,
        summary=clip(str(payload.get("summary", "")).strip(), 1024),
        severity=normalize_severity(payload.get("severity")),
        source=clip(str(payload.get("source", "")), 512),
        details=details,
        links=tuple(links),
        starts_at=parse_time(payload.get("timestamp"), "payload.timestamp") if payload else None,
    )
