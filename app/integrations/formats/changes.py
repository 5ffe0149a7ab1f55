"""What the deploy formats share (PagerDuty change events, GitHub webhooks): a sender's text
made safe and short enough for the deployments table, links, commit SHAs.

Like alerts, a deploy is never refused for its characters: unsafe ones become U+FFFD and long
text is clipped to its column (PostgreSQL would refuse it, SQLite would not).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from app.core.validation import sanitize_line
from app.integrations.formats.common import clip

MAX_LINKS = 20  # as many as the native API takes
VERSION_LENGTH = 200
ENVIRONMENT_LENGTH = 100
DEPLOYER_LENGTH = 200
SUMMARY_LENGTH = 1024
URL_LENGTH = 2048
LINK_TEXT_LENGTH = 200
EXTERNAL_ID_LENGTH = 255

_SHA = re.compile(r"^[0-9a-fA-F]{4,64}$")
_HTTP_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


def line(value: Any, limit: int) -> str:
    """One line of text from a sender (numbers too: ``"version": 42``), or "" for anything
    else."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return ""
    return clip(sanitize_line(value).strip(), limit)


def commit_sha(value: Any) -> str:
    """A commit SHA (abbreviated or full, SHA-1 or SHA-256), lower case; "" when ``value`` is
    not one (a tag, "HEAD"): the sender's words stay in the deploy's details."""
    text = line(value, 64)
    return text.lower() if _SHA.match(text) else ""


def http_url(value: Any) -> str:
    """An http(s) URL, or "": a ``javascript:`` link must never reach a page."""
    text = value.strip() if isinstance(value, str) else ""
    return text if len(text) <= URL_LENGTH and _HTTP_URL.match(text) else ""


def links(pairs: Iterable[tuple[Any, Any]]) -> tuple[dict[str, str], ...]:
    """``(href, text)`` pairs as stored links: http(s) only, each href once, at most
    :data:`MAX_LINKS`."""
    seen: set[str] = set()
    kept: list[dict[str, str]] = []
    for href, text in pairs:
        url = http_url(href)
        if not url or url in seen:
            continue
        seen.add(url)
        kept.append({"href": url, "text": line(text, LINK_TEXT_LENGTH)})
        if len(kept) == MAX_LINKS:
            break
    return tuple(kept)
