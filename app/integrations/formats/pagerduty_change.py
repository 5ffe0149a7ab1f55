"""PagerDuty Change Events API v2 compatible events (``/v2/change/enqueue``) as deploys.

A change event is ``routing_key``, ``payload.summary`` (required, at most 1,024 characters),
``payload.source``, ``payload.timestamp``, ``payload.custom_details`` and ``links``; PagerDuty
knows nothing of versions, so the deploy's fields come from common names in
``custom_details`` (:data:`FIELDS`), the version falling back to the summary.

A change event has no id of its own. A retry must not make a second deploy, so each event gets
an external id: ``custom_details.external_id`` when the sender gives one (the same id as the
native API's, so both can report one deploy), else a hash of what identifies the event
(timestamp, summary, source, version, environment), which needs the timestamp: without one,
two identical events may well be two deploys of the same version, and each is kept.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from app.deploys.models import DeployStatus
from app.deploys.schemas import DeployReport
from app.integrations.formats import changes
from app.integrations.formats.common import (
    InvalidPayload,
    load_json_object,
    parse_time,
    sanitized_json,
)

SUMMARY_LIMIT = 1024
# custom_details names for each deploy field, first found wins.
FIELDS: dict[str, tuple[str, ...]] = {
    "version": ("version", "release", "tag"),
    "previous_version": ("previous_version", "previous_release", "rollback_version"),
    "commit": ("commit", "commit_sha", "sha", "revision"),
    "environment": ("environment", "env"),
    "deployer": ("deployed_by", "deployer", "user"),
    "repository": ("repository_url", "repository", "repo"),
    "status": ("status", "deploy_status", "state", "build_state"),
    "external_id": ("external_id", "deployment_id", "deploy_id"),
}
# What a pipeline may call the outcome it reports; a change event without one succeeded (the
# change happened).
STATUS_WORDS: dict[str, DeployStatus] = {
    **{w: DeployStatus.STARTED for w in ("started", "in_progress", "running", "pending")},
    **{
        w: DeployStatus.SUCCEEDED
        for w in ("succeeded", "success", "successful", "passed", "deployed", "done")
    },
    **{w: DeployStatus.FAILED for w in ("failed", "failure", "error", "errored")},
    **{w: DeployStatus.ROLLED_BACK for w in ("rolled_back", "rollback", "rolledback")},
}
# v1.2.3, 2.14.3-rc.1, 1.4+build.7: the first version-like word of a summary.
_VERSION = re.compile(r"(?<![\w.])v?\d+(?:\.\d+)+(?:[-+][0-9A-Za-z][0-9A-Za-z.-]*)?(?![\w])")


def parse(body: bytes) -> tuple[str, DeployReport]:
    """The routing key and the deploy a change event reports; :class:`InvalidPayload` (with
    PagerDuty's ``errors`` list) when it can never be accepted."""
    data = load_json_object(body)
    errors: list[str] = []
    routing_key = data.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key.strip():
        errors.append("'routing_key' is missing or blank")
    payload = data.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
        payload = {}
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > SUMMARY_LIMIT:
        errors.append(f"'payload.summary' is longer than {SUMMARY_LIMIT} characters")
    source = payload.get("source")
    if source is not None and not isinstance(source, str):
        errors.append("'payload.source' must be a string")
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict | str):
        errors.append("'payload.custom_details' must be an object")
    timestamp: datetime | None = None
    try:
        timestamp = parse_time(payload.get("timestamp"), "payload.timestamp")
    except InvalidPayload as exc:
        errors.append(f"'payload.timestamp' {exc.detail}")
    links = data.get("links")
    if links is not None and not isinstance(links, list):
        errors.append("'links' must be a list")
    named = details if isinstance(details, dict) else {}
    given_id = _first(named, "external_id")
    if given_id is not None and not _fits_id(given_id):
        errors.append(
            "'payload.custom_details.external_id' must be a string of 1 to "
            f"{changes.EXTERNAL_ID_LENGTH} characters"
        )
    if errors:
        raise InvalidPayload("Event object is invalid", errors)
    assert isinstance(routing_key, str) and isinstance(summary, str)
    return routing_key.strip(), _report(summary, source, timestamp, details, named, links)


def _report(
    summary: str,
    source: str | None,
    timestamp: datetime | None,
    details: dict[str, Any] | str | None,
    named: dict[str, Any],
    links: list[Any] | None,
) -> DeployReport:
    summary_line = changes.line(summary, changes.SUMMARY_LENGTH)
    version = changes.line(_first(named, "version"), changes.VERSION_LENGTH) or _version_in(
        summary_line
    )
    environment = changes.line(_first(named, "environment"), changes.ENVIRONMENT_LENGTH)
    status = STATUS_WORDS.get(
        changes.line(_first(named, "status"), 40).lower(), DeployStatus.SUCCEEDED
    )
    given_id = _first(named, "external_id")
    external_id = (
        changes.line(given_id, changes.EXTERNAL_ID_LENGTH)
        if given_id is not None
        else _hashed_id(timestamp, summary_line, source or "", version, environment)
    )
    stored: dict[str, Any] = {}
    if source:
        stored["source"] = source
    if details is not None:
        stored["custom_details"] = details
    return DeployReport(
        version=version,
        status=status,
        environment=environment,
        previous_version=changes.line(_first(named, "previous_version"), changes.VERSION_LENGTH),
        summary=summary_line,
        commit_sha=changes.commit_sha(_first(named, "commit")),
        repository_url=changes.http_url(_first(named, "repository")),
        deployer=changes.line(_first(named, "deployer"), changes.DEPLOYER_LENGTH),
        started_at=timestamp,
        finished_at=timestamp if status.finished else None,
        links=changes.links(
            (link.get("href"), link.get("text")) for link in links or [] if isinstance(link, dict)
        ),
        details=sanitized_json(stored),
        external_id=external_id,
    )


def _first(details: dict[str, Any], field: str) -> Any:
    for name in FIELDS[field]:
        value = details.get(name)
        if value not in (None, ""):
            return value
    return None


def _fits_id(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    return 0 < len(str(value).strip()) <= changes.EXTERNAL_ID_LENGTH


def _version_in(summary: str) -> str:
    """The summary's first version-like word; else the summary itself, clipped."""
    found = _VERSION.search(summary)
    return found.group() if found else changes.line(summary, changes.VERSION_LENGTH)


def _hashed_id(
    timestamp: datetime | None, summary: str, source: str, version: str, environment: str
) -> str | None:
    if timestamp is None:
        return None
    identity = "\x1f".join((timestamp.isoformat(), summary, source, version, environment))
    return "pagerduty:" + hashlib.sha256(identity.encode()).hexdigest()[:32]
