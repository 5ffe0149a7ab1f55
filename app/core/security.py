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


def display_prefix(secret: str, length: int = 12) -> str:
    """The start of a secret, kept so people can tell their tokens apart."""
    return secret[:length]


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def numeric_code(digits: int = 6) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(digits))
