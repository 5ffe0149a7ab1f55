"""Slack request signatures, checked with ``slack_sdk``'s ``SignatureVerifier``.

The verifier's clock is Baton's injected clock, so the 5-minute replay window follows the
same time as everything else (and tests can move it). The body is verified as raw bytes,
before any form parsing.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier

from app.core.clock import Clock
from app.core.errors import Forbidden, NotFound
from app.core.settings import Settings

REPLAY_WINDOW_SECONDS = 300  # SignatureVerifier's own window; stated here for the docs


class _InjectedClock(SlackClock):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()


class SlackVerifier:
    def __init__(self, signing_secret: str, clock: Clock) -> None:
        self._verifier = SignatureVerifier(signing_secret, clock=_InjectedClock(clock))

    def is_valid(self, body: bytes, headers: Mapping[str, str]) -> bool:
        timestamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        # The SDK calls int() on the timestamp and raises on anything else.
        if not timestamp or not signature or not timestamp.strip().isdigit():
            return False
        try:
            return self._verifier.is_valid(body, timestamp.strip(), signature)
        except ValueError:
            return False


async def verified_body(request: Request) -> bytes:
    """The raw body of a request Slack signed; 403 (nothing done) if the signature fails."""
    settings: Settings = request.app.state.settings
    secret = settings.slack_signing_secret
    if secret is None or not secret.get_secret_value().strip():
        raise NotFound("Slack is not configured on this Baton", code="not_configured")
    body = await request.body()
    verifier = SlackVerifier(secret.get_secret_value(), request.app.state.clock)
    if not verifier.is_valid(body, request.headers):
        raise Forbidden(
            "the Slack signature is missing, wrong or older than 5 minutes", code="bad_signature"
        )
    return body
