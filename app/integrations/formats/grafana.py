"""Grafana unified alerting webhook contact point (version "1", an Alertmanager superset)."""

from __future__ import annotations

import hashlib
import hmac

from app.alerts.grouping import InboundBatch
from app.integrations.formats import alertmanager

MAX_SIGNATURE_AGE_SECONDS = 300


class BadSignature(ValueError):
    pass


def verify_signature(
    body: bytes,
    signature: str | None,
    secret: str,
    *,
    timestamp: str | None = None,
    timestamp_required: bool = False,
    now_unix: float,
) -> None:
    """Hex HMAC-SHA256 of the raw body (or of ``"<timestamp>:<body>"``), checked before parsing."""
    if not signature:
        raise BadSignature("missing signature header")
    message = body
    if timestamp_required:
        if not timestamp or not timestamp.isdigit():
            raise BadSignature("missing or malformed signature timestamp")
        if abs(now_unix - int(timestamp)) > MAX_SIGNATURE_AGE_SECONDS:
            raise BadSignature("stale signature timestamp")
        message = timestamp.encode() + b":" + body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise BadSignature("signature does not match")


def parse(body: bytes) -> InboundBatch:
    # Severity and service come from labels, never from the rendered title.
    return alertmanager.parse(body, expected_version="1", source_name="Grafana")
