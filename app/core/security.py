"""Secrets handling: random tokens shown once, stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(prefix: str, nbytes: int = 32) -> str:
    """A high-entropy bearer secret such as ``baton_...``; its prefix tells people what it is."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def hash_secret(secret: str) -> str:
    """SHA-256 is enough for 256-bit random secrets: there is nothing to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()


# What is kept of a secret so people can tell their tokens apart: a few of its random
# characters, never more than an eighth of them.
DISPLAY_CHARS = 4


def display_prefix(secret: str, label: str | None = None) -> str:
    """``label_`` (the kind ``new_secret`` put in front) and the first few characters after it.

    A secret someone chose (``BATON_BOOTSTRAP_TOKEN``) may be short or carry no label; of it
    only a small fixed part is stored, not most of it.
    """
    head = f"{label}_" if label and secret.startswith(f"{label}_") else ""
    rest = secret[len(head) :]
    return head + rest[: min(DISPLAY_CHARS, len(rest) // 8)]


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def numeric_code(digits: int = 6) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(digits))
