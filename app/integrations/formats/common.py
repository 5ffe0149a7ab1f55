"""Shared parsing helpers for inbound alert formats (pure: bytes in, InboundBatch out)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

ZERO_TIME_PREFIX = "0001-01-01"


class InvalidPayload(ValueError):
    """The body can never be accepted as sent; the sender must not retry it unchanged."""

    def __init__(self, detail: str, errors: list[str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or [detail]


def load_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidPayload("the request body is empty; expected a JSON object")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidPayload(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidPayload("the request body must be a JSON object")
    return data


def parse_time(value: Any, field: str) -> datetime | None:
    """RFC 3339 with any precision; Alertmanager's zero time means "not set"."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{field} must be an RFC 3339 timestamp")
    if value.startswith(ZERO_TIME_PREFIX):
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Go emits nanoseconds; Python takes at most microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]  # +0000 -> +00:00 (PagerDuty's example format)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidPayload(f"{field} is not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def string_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidPayload(f"{field} must be an object of strings")
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
