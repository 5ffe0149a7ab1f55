"""Outgoing webhooks: a signed JSON POST per page or incident change.

Receivers verify ``X-Baton-Signature: sha256=<hex>`` = HMAC-SHA256(key, ``"<timestamp>.<body>"``)
with ``X-Baton-Timestamp``, and deduplicate on ``X-Baton-Delivery`` (the notification id):
deliveries are retried on timeouts and 5xx, so a slow receiver may see one twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from app.core.clock import Clock
from app.notify.base import DeliveryResult, DeliveryStatus, OutboundMessage


def signing_key(secret_key: str, address: str) -> str:
    """Each webhook address gets its own key, derived so Baton stores nothing extra."""
    return hmac.new(secret_key.encode(), f"webhook:{address}".encode(), hashlib.sha256).hexdigest()


def sign(key: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def event_name(message: OutboundMessage) -> str:
    """``incident.page``, ``incident.summary``, ``incident.acknowledged`` (a change), ``test``."""
    return str(message.context.get("event") or f"incident.{message.kind}")


class WebhookProvider:
    """POSTs with aiohttp: pages leave on the hot path, and it costs a fraction of the CPU of
    the other HTTP clients per request."""

    name = "webhook"

    def __init__(self, clock: Clock, key_for: Callable[[str], str], *, timeout: float = 10.0):
        self._clock = clock
        self._key_for = key_for
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the event loop that runs the sends.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": "Baton-Webhook/1"}
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def payload(self, message: OutboundMessage) -> dict[str, Any]:
        return {
            "event": event_name(message),
            "delivery_id": message.context.get("notification_id"),
            "subject": message.subject,
            "text": message.text,
            "incident": {
                k: v for k, v in message.context.items() if k not in ("notification_id", "event")
            },
        }

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        body = json.dumps(self.payload(message), separators=(",", ":"), default=str).encode()
        timestamp = str(int(self._clock.now().timestamp()))
        delivery = str(message.context.get("notification_id", ""))
        headers = {
            "Content-Type": "application/json",
            "X-Baton-Event": event_name(message),
            "X-Baton-Delivery": delivery,
            "X-Baton-Timestamp": timestamp,
            "X-Baton-Signature": sign(self._key_for(message.address), timestamp, body),
        }
        try:
            async with self._client().post(
                message.address, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After", "")
        except (TimeoutError, aiohttp.ClientError) as exc:
            return DeliveryResult(
                DeliveryStatus.TEMPORARY_FAILURE,
                self.name,
                detail=f"{type(exc).__name__} posting to the webhook",
            )
        if 200 <= status < 300:
            return DeliveryResult(
                DeliveryStatus.SENT, self.name, provider_message_id=delivery or None
            )
        if status == 429 or status >= 500:
            return DeliveryResult(
                DeliveryStatus.TEMPORARY_FAILURE,
                self.name,
                detail=f"HTTP {status} from the webhook",
                retry_after_seconds=float(retry_after) if retry_after.isdigit() else None,
            )
        return DeliveryResult(
            DeliveryStatus.PERMANENT_FAILURE, self.name, detail=f"HTTP {status} from the webhook"
        )
