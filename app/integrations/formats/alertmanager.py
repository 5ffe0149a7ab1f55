"""Prometheus Alertmanager webhook, payload version 4 (Grafana's version 1 is a superset)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from app.alerts.grouping import AlertAction, InboundAlert, InboundBatch, normalize_severity
from app.integrations.formats.common import (
    InvalidPayload,
    clip,
    load_json_object,
    parse_time,
    string_map,
)

_FINGERPRINT = re.compile(r"^[0-9a-f]{1,32}$")
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's label-set fingerprint: FNV-1a 64 over sorted names and values, each
    followed by 0xff. Used when a sender leaves the fingerprint out."""
    value = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                value ^= byte
                value = (value * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def parse(
    body: bytes, *, expected_version: str = "4", source_name: str = "Alertmanager"
) -> InboundBatch:
    data = load_json_object(body)
    version = data.get("version")
    if version != expected_version:
        raise InvalidPayload(
            f"unsupported {source_name} webhook version {version!r}; expected {expected_version!r}"
        )
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list):
        raise InvalidPayload("alerts must be a list")
    common = string_map(data.get("commonAnnotations"), "commonAnnotations")
    group_labels = string_map(data.get("groupLabels"), "groupLabels")
    alerts = tuple(_alert(raw, i, data) for i, raw in enumerate(raw_alerts))
    group_key = data.get("groupKey")
    if group_key is not None and not isinstance(group_key, str):
        raise InvalidPayload("groupKey must be a string")
    truncated = data.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or truncated < 0:
        raise InvalidPayload("truncatedAlerts must be a non-negative integer")
    return InboundBatch(
        alerts=alerts,
        group_key=clip(group_key, 512) if group_key else None,
        group_title=_group_title(common, group_labels, len(alerts)),
        truncated_alerts=truncated,
    )


def _alert(raw: Any, index: int, envelope: dict[str, Any]) -> InboundAlert:
    where = f"alerts[{index}]"
    if not isinstance(raw, dict):
        raise InvalidPayload(f"{where} must be an object")
    status = raw.get("status")
    if status not in ("firing", "resolved"):
        raise InvalidPayload(f"{where}.status must be 'firing' or 'resolved'")
    labels = string_map(raw.get("labels"), f"{where}.labels")
    if not labels:
        raise InvalidPayload(f"{where}.labels must name the alert")
    annotations = string_map(raw.get("annotations"), f"{where}.annotations")
    key = raw.get("fingerprint") or fingerprint(labels)
    if not isinstance(key, str) or not _FINGERPRINT.match(key):
        raise InvalidPayload(f"{where}.fingerprint must be hexadecimal")
    generator = raw.get("generatorURL") or ""
    links = []
    if isinstance(generator, str) and generator:
        links.append({"href": generator, "text": "Source"})
    if annotations.get("runbook_url"):
        links.append({"href": annotations["runbook_url"], "text": "Runbook"})
    for extra in ("dashboardURL", "panelURL", "silenceURL"):
        if isinstance(raw.get(extra), str) and raw[extra]:
            links.append({"href": raw[extra], "text": extra.removesuffix("URL").capitalize()})
    details: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": raw.get("startsAt"),
        "endsAt": raw.get("endsAt"),
        "receiver": envelope.get("receiver"),
        "externalURL": envelope.get("externalURL"),
    }
    for extra in ("values", "valueString", "imageURL"):
        if extra in raw:
            details[extra] = raw[extra]
    return InboundAlert(
        dedup_key=key,
        action=AlertAction.TRIGGER if status == "firing" else AlertAction.RESOLVE,
        summary=clip(_summary(labels, annotations), 1024),
        severity=normalize_severity(labels.get("severity")),
        source=clip(
            labels.get("instance") or labels.get("job") or labels.get("service") or "", 512
        ),
        details=details,
        links=tuple(links),
        starts_at=parse_time(raw.get("startsAt"), f"{where}.startsAt"),
        ends_at=_ended_at(raw.get("endsAt")) if status == "resolved" else None,
    )


def _ended_at(value: Any) -> datetime | None:
    # A firing alert's endsAt is only Alertmanager's expiry guess; a resolved one's is when it
    # really ended. A malformed one must not refuse the resolution: the alert would stay open.
    try:
        return parse_time(value, "endsAt")
    except InvalidPayload:
        return None


def _summary(labels: dict[str, str], annotations: dict[str, str]) -> str:
    for name in ("summary", "title", "message", "description"):
        if annotations.get(name):
            return annotations[name]
    name = labels.get("alertname", "alert")
    rest = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
    return f"{name} ({rest})" if rest else name


def _group_title(common: dict[str, str], group_labels: dict[str, str], count: int) -> str | None:
    if common.get("summary"):
        return common["summary"]
    if not group_labels:
        return None
    name = group_labels.get("alertname", "alerts")
    rest = ", ".join(f"{k}={v}" for k, v in sorted(group_labels.items()) if k != "alertname")
    title = f"{name} on {rest}" if rest else name
    return f"{title} ({count} alerts)" if count > 1 else title
