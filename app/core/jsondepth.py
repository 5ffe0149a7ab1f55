"""How deep a JSON body may nest, checked on the raw bytes before anything parses them.

Python's parser gives up with ``RecursionError`` near 1,000 levels and the response serializer
near 255, so a deep body is refused at the door with a fixed, documented limit; no real sender
nests anywhere near it.
"""

from __future__ import annotations

import re
from typing import Any

MAX_JSON_DEPTH = 64
TOO_DEEP_NOTE = "(nested too deep to show)"

# A JSON string, escapes included: brackets inside strings do not nest.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_KEEP_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep_detail(limit: int = MAX_JSON_DEPTH) -> str:
    return f"the JSON body nests deeper than {limit} levels"


def nests_deeper_than(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the arrays and objects in ``body`` nest more than ``limit`` levels.

    Linear and in C: a body with few brackets is answered by counting them; otherwise the
    strings are dropped and innermost ``[]`` pairs are peeled, at most ``limit`` times. Bytes
    that are not balanced JSON are left for the parser to refuse.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", body).translate(_KEEP_BRACKETS, _NOT_BRACKETS)
    deep_run = b"[" * (limit + 1)
    for _ in range(limit):
        if deep_run in brackets:
            return True
        peeled = brackets.replace(b"[]", b"")
        if not peeled:
            return False
        if len(peeled) == len(brackets):
            return False  # unbalanced: not JSON at all, the parser says so
        brackets = peeled
    return True


def clamp_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> Any:
    """``value`` with what nests past ``limit`` levels replaced by a short note: stored data
    from before the limit (or from anywhere else) can always be shown."""
    if not isinstance(value, dict | list):
        return value
    if limit <= 0:
        return TOO_DEEP_NOTE
    if isinstance(value, dict):
        return {key: clamp_depth(item, limit - 1) for key, item in value.items()}
    return [clamp_depth(item, limit - 1) for item in value]
