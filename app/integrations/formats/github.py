"""GitHub ``deployment_status`` webhooks as deploys (pure: bytes and headers in, a report out).

GitHub signs each delivery with the webhook's secret (``X-Hub-Signature-256: sha256=<hex
HMAC-SHA256 of the raw body>``); the signature is checked on the raw bytes before anything
parses them.

All the statuses of one GitHub deployment are one Baton deploy (external id
``github:<deployment.id>``), moved forward by :data:`STATES`: queued, pending and in_progress
start it, success finishes it, failure and error fail it. A deploy only moves forward, so a
redelivery (GitHub's "Redeliver" button sends the same body again) or a late, older status
changes nothing. ``inactive`` is what GitHub says of an older deployment once a newer one
succeeded: it says nothing about that deploy's outcome, and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from app.core.jsondepth import nests_deeper_than
from app.deploys.models import DeployStatus
from app.deploys.schemas import DeployReport
from app.integrations.formats import changes
from app.integrations.formats.common import (
    InvalidPayload,
    load_json_object,
    parse_time,
    sanitized_json,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
DEPLOYMENT_STATUS = "deployment_status"
PING = "ping"

STATES: dict[str, DeployStatus] = {
    "queued": DeployStatus.STARTED,
    "pending": DeployStatus.STARTED,
    "in_progress": DeployStatus.STARTED,
    "success": DeployStatus.SUCCEEDED,
    "failure": DeployStatus.FAILED,
    "error": DeployStatus.FAILED,
}
INACTIVE = "inactive"
_LINKS = (("log_url", "Logs"), ("target_url", "Details"), ("environment_url", "Environment"))


class BadSignature(ValueError):
    pass


@dataclass(frozen=True)
class Ignored:
    """A delivery Baton accepts and does nothing with, and why (GitHub shows the answer)."""

    reason: str


def verify_signature(body: bytes, header: str | None, secret: str) -> None:
    """``header`` must be ``sha256=`` and the hex HMAC-SHA256 of ``body`` keyed with
    ``secret``; compared in constant time."""
    if not header:
        raise BadSignature(f"the {SIGNATURE_HEADER} header is missing")
    scheme, _, digest = header.strip().partition("=")
    if scheme != "sha256" or not digest:
        raise BadSignature(f"the {SIGNATURE_HEADER} header must be sha256=<hex digest>")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), digest.strip().lower().encode()):
        raise BadSignature(
            f"the {SIGNATURE_HEADER} signature does not match the body and the webhook secret"
        )


def ping_warning(body: bytes) -> str | None:
    """What is wrong with a new webhook, from GitHub's ``ping``: it was not subscribed to
    deployment statuses (GitHub shows this answer under "Recent Deliveries")."""
    try:
        data = load_json_object(body)
    except InvalidPayload:
        return None
    hook = data.get("hook")
    events = hook.get("events") if isinstance(hook, dict) else None
    if isinstance(events, list) and not {DEPLOYMENT_STATUS, "*"} & set(events):
        return "this webhook is not subscribed to Deployment statuses: Baton will see no deploys"
    return None


def parse_deployment_status(body: bytes) -> DeployReport | Ignored:
    data = load_json_object(body)
    errors: list[str] = []
    status = data.get("deployment_status")
    deployment = data.get("deployment")
    if not isinstance(status, dict):
        errors.append("'deployment_status' is missing or not an object")
        status = {}
    if not isinstance(deployment, dict):
        errors.append("'deployment' is missing or not an object")
        deployment = {}
    deployment_id = deployment.get("id")
    if isinstance(deployment_id, bool) or not isinstance(deployment_id, int | str):
        errors.append("'deployment.id' is missing")
    state = status.get("state")
    if not isinstance(state, str) or not state:
        errors.append("'deployment_status.state' is missing")
    created = finished = None
    try:
        created = parse_time(deployment.get("created_at"), "deployment.created_at")
        finished = parse_time(status.get("created_at"), "deployment_status.created_at")
    except InvalidPayload as exc:
        errors.append(exc.detail)
    version = _version(deployment)
    if not version:
        errors.append("the deployment has no version: neither payload.version nor ref")
    if errors:
        raise InvalidPayload("the deployment_status event is invalid", errors)
    assert isinstance(state, str)
    if state == INACTIVE:
        return Ignored(
            "an inactive status changes nothing: GitHub marks an older deployment inactive "
            "when a newer one succeeds"
        )
    if state not in STATES:
        return Ignored(f"deployment state {changes.line(state, 40)!r} is not one Baton knows")
    outcome = STATES[state]
    repository = data.get("repository") if isinstance(data.get("repository"), dict) else {}
    return DeployReport(
        version=version,
        status=outcome,
        environment=changes.line(
            deployment.get("environment") or status.get("environment"), changes.ENVIRONMENT_LENGTH
        ),
        summary=changes.line(
            status.get("description") or deployment.get("description"), changes.SUMMARY_LENGTH
        ),
        commit_sha=changes.commit_sha(deployment.get("sha")),
        repository_url=changes.http_url(repository.get("html_url")),
        deployer=_deployer(deployment, status, data.get("sender")),
        started_at=created or finished,
        finished_at=(finished or created) if outcome.finished else None,
        links=changes.links((status.get(name), text) for name, text in _LINKS),
        details=sanitized_json(
            {
                name: value
                for name, value in (
                    ("repository", repository.get("full_name")),
                    ("deployment_id", deployment_id),
                    ("task", deployment.get("task")),
                )
                if value is not None
            }
        ),
        external_id=f"github:{changes.line(deployment_id, 200)}",
    )


def _version(deployment: dict[str, Any]) -> str:
    """``payload.version`` when the deploying workflow set one, else the ref (a tag, usually)."""
    payload = deployment.get("payload")
    if isinstance(payload, str):
        # The REST API takes the payload as an object or as a JSON string, and GitHub hands
        # it on as it was given (the depth limit holds inside it too).
        try:
            payload = None if nests_deeper_than(payload.encode()) else json.loads(payload)
        except ValueError:
            payload = None
    version = payload.get("version") if isinstance(payload, dict) else None
    return changes.line(version, changes.VERSION_LENGTH) or changes.line(
        deployment.get("ref"), changes.VERSION_LENGTH
    )


def _deployer(deployment: dict[str, Any], status: dict[str, Any], sender: Any) -> str:
    """Who asked for the deploy: the deployment's creator; a status posted by a bot (GitHub
    Actions posts as ``github-actions[bot]``) names a person only if nobody else does."""
    logins = [
        changes.line(who.get("login"), changes.DEPLOYER_LENGTH)
        for who in (deployment.get("creator"), status.get("creator"), sender)
        if isinstance(who, dict)
    ]
    logins = [login for login in logins if login]
    people = [login for login in logins if not login.endswith("[bot]")]
    return (people or logins or [""])[0]
