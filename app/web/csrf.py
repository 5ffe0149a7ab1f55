"""CSRF tokens: every state-changing page request proves it came from one of our pages.

A signed-in browser's token is an HMAC of its session (the hash of the session cookie) under a
key derived from ``BATON_SECRET_KEY``: the pages put it in every form (``csrf_token``) and in
the ``X-CSRF-Token`` header of every htmx request, and another site can neither read nor
compute it. Before sign-in there is no session, so the sign-in forms use a double-submit
cookie: a random ``baton_visitor`` cookie, and in the form the HMAC of that cookie's value,
which a site that can plant cookies still cannot compute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
VISITOR_COOKIE = "baton_visitor"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfTokens:
    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode(), b"baton:web-csrf", hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "CsrfTokens(<hidden>)"

    def _sign(self, binding: str) -> str:
        return hmac.new(self._key, binding.encode(), hashlib.sha256).hexdigest()

    def for_session(self, session_token_hash: str) -> str:
        return self._sign(f"session:{session_token_hash}")

    def for_visitor(self, visitor_id: str) -> str:
        return self._sign(f"visitor:{visitor_id}")


def new_visitor_id() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())
