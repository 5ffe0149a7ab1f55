"""The generic JSON event: for scripts and tools without a dedicated format.

``{"summary": "...", "dedup_key": "...", "action": "trigger|acknowledge|resolve",
"severity": "...", "source": "...", "details": {...}, "links": [{"href", "text"}],
"group_key": "..."}``. Only ``summary`` is required to trigger; ``dedup_key`` to resolve.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from app.alerts.grouping import AlertAction, InboundAlert, InboundBatch, normalize_severity
from app.integrations.formats.common import InvalidPayload, clip, load_json_object

_ACTIONS = {a.value: a for a in AlertAction}
_ALLOWED = {"summary", "dedup_key", "action", "severity", "source", "details", "links", "group_key"}


def parse(body: bytes) -> InboundBatch:
    data = load_json_object(body)
    errors: list[str] = []
    unknown = sorted(set(data) - _ALLOWED)
    if unknown:
        errors.append(f"unknown fields: {', '.join(unknown)}")
    action = data.get("action", "trigger")
    if action not in _ACTIONS:
        errors.append("'action' must be one of trigger, acknowledge, resolve")
    summary = data.get("summary")
    if action == "trigger" and (not isinstance(summary, str) or not summary.strip()):
        errors.append("'summary' is required to trigger")
    dedup_key = data.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or not 0 < len(dedup_key) <= 255):
        errors.append("'dedup_key' must be a string of 1-255 characters")
    if action != "trigger" and not dedup_key:
        errors.append(f"'dedup_key' is required to {action}")
    details = data.get("details", {})
    if not isinstance(details, dict):
        errors.append("'details' must be an object")
    links = data.get("links", [])
    if not isinstance(links, list) or not all(
        isinstance(link, dict) and isinstance(link.get("href"), str) for link in links
    ):
        errors.append("'links' must be a list of {href, text}")
    group_key = data.get("group_key")
    if group_key is not None and (not isinstance(group_key, str) or not group_key):
        errors.append("'group_key' must be a non-empty string")
    if errors:
        raise InvalidPayload("; ".join(errors), errors)
    key = dedup_key or _derived_key(summary, details)
    alert = InboundAlert(
        dedup_key=key,
        action=_ACTIONS[action],
        summary=clip(str(summary or "").strip(), 1024),
        severity=normalize_severity(data.get("severity")),
        source=clip(str(data.get("source") or ""), 512),
        details=details,
        links=tuple({"href": link["href"], "text": str(link.get("text", ""))} for link in links),
    )
    return InboundBatch(alerts=(alert,), group_key=group_key)


def _derived_key(summary: Any, details: Any) -> str:
    """Without a dedup key, the same summary and details are the same alert (retries dedupe)."""
    material = json.dumps({"summary": summary, "details": details}, sort_keys=True)
    return "auto:" + hashlib.sha256(material.encode()).hexdigest()[:32]
