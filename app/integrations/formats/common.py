"""Shared parsing helpers for inbound alert formats (pure: bytes in, InboundBatch out)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from app.alerts.grouping import InboundAlert, InboundBatch
from app.core.jsondepth import nests_deeper_than, too_deep_detail
from app.core.validation import sanitize_line, sanitize_text

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
    if nests_deeper_than(body):
        raise InvalidPayload(too_deep_detail())
    try:
        data = json.loads(
            body, parse_constant=_as_text, parse_float=_finite_or_text, parse_int=_int_or_text
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidPayload(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidPayload("the request body must be a JSON object")
    return data


# Numbers no database column of JSON keeps, from senders that write them anyway (Python's json
# module writes NaN; a gauge overflows to 1e400): kept as the text the sender wrote, so that the
# alert is stored and pages like any other.
def _as_text(literal: str) -> str:
    return literal


def _finite_or_text(literal: str) -> float | str:
    number = float(literal)
    return number if math.isfinite(number) else literal


def _int_or_text(literal: str) -> int | str:
    # Beyond Python's digit limit int() refuses the text (a guard against quadratic parsing).
    limit = sys.get_int_max_str_digits()
    return int(literal) if not limit or len(literal) <= limit else literal


def parse_time(value: Any, field: str) -> datetime | None:
    """RFC 3339 with any precision; Alertmanager's zero time means "not set"."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{field} must be an RFC 3339 timestamp")
    if value.startswith(ZERO_TIME_PREFIX):
        return None
    try:
        return _rfc3339(value)
    except ValueError:
        raise InvalidPayload(f"{field} is not an RFC 3339 timestamp: {value!r}") from None


@lru_cache(maxsize=4096)
def _rfc3339(value: str) -> datetime:
    # Cached: the alerts of one storm mostly share a few start times.
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Go emits nanoseconds; Python takes at most microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]  # +0000 -> +00:00 (PagerDuty's example format)
    parsed = datetime.fromisoformat(text)
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


def sanitized(batch: InboundBatch) -> InboundBatch:
    """What a source sent, safe to store and show: control characters and bidi overrides in
    its text become U+FFFD (line breaks too, in one-line fields). An alert is never refused
    for its characters: a page must not be lost to a stray byte. What needs no change is
    handed back as it is (almost every storm's alert): no copies."""
    alerts = tuple(_sanitized_alert(alert) for alert in batch.alerts)
    group_key = None if batch.group_key is None else sanitize_text(batch.group_key)
    group_title = None if batch.group_title is None else sanitize_line(batch.group_title)
    if (
        group_key is batch.group_key
        and group_title is batch.group_title
        and all(new is old for new, old in zip(alerts, batch.alerts, strict=True))
    ):
        return batch
    return dataclasses.replace(batch, alerts=alerts, group_key=group_key, group_title=group_title)


def _sanitized_alert(alert: InboundAlert) -> InboundAlert:
    dedup_key = sanitize_text(alert.dedup_key)
    summary = sanitize_line(alert.summary)
    severity = sanitize_line(alert.severity)
    source = sanitize_line(alert.source)
    details = sanitized_json(alert.details)
    links = tuple(_sanitized_link(link) for link in alert.links)
    if (
        dedup_key is alert.dedup_key
        and summary is alert.summary
        and severity is alert.severity
        and source is alert.source
        and details is alert.details
        and all(new is old for new, old in zip(links, alert.links, strict=True))
    ):
        return alert
    return dataclasses.replace(
        alert,
        dedup_key=dedup_key,
        summary=summary,
        severity=severity,
        source=source,
        details=details,
        links=links,
    )


def _sanitized_link(link: dict[str, str]) -> dict[str, str]:
    if all(sanitize_line(k) is k and sanitize_line(v) is v for k, v in link.items()):
        return link
    return {sanitize_line(k): sanitize_line(v) for k, v in link.items()}


def sanitized_json(value: Any) -> Any:
    """``value`` with its text sanitized; the same object when nothing in it changes. Each
    part is sanitized once (a deep body with one bad byte at the bottom costs its size)."""
    # Depth is bounded: bodies nesting deeper than MAX_JSON_DEPTH were refused at parse time.
    if isinstance(value, str):
        return sanitize_text(value)
    if isinstance(value, dict):
        for index, (key, item) in enumerate(value.items()):
            clean_key, clean_item = sanitize_text(str(key)), sanitized_json(item)
            if clean_key is not key or clean_item is not item:
                pairs = iter(value.items())
                changed = dict(itertools.islice(pairs, index))
                next(pairs)
                changed[clean_key] = clean_item
                for later_key, later in pairs:
                    changed[sanitize_text(str(later_key))] = sanitized_json(later)
                return changed
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            clean_item = sanitized_json(item)
            if clean_item is not item:
                return [
                    *value[:index],
                    clean_item,
                    *(sanitized_json(v) for v in value[index + 1 :]),
                ]
        return value
    return value
