"""Outgoing webhooks: a signed JSON POST per page or incident change.

Receivers verify ``X-Baton-Signature: sha256=<hex>`` = HMAC-SHA256(key, ``"<timestamp>.<body>"``)
with ``X-Baton-Timestamp``; ``X-Baton-Key-Id`` names the key. During a key rotation's grace
period the header carries one signature per valid key (``sha256=<new>, sha256=<old>``) and a
receiver accepts the delivery when any of them verifies. Receivers deduplicate on
``X-Baton-Delivery`` (the notification id): deliveries are retried on timeouts and 5xx, and a
send cut short by a crash is repeated, so a receiver may see one twice.

Every send goes through the network guard (``app/core/netguard.py``): the host is resolved, every
address is checked, and the connection is made to the checked address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from app.core.clock import Clock
from app.core.netguard import BlockedDestination, NetworkPolicy
from app.notify import messages
from app.notify.base import DeliveryResult, DeliveryStatus, OutboundMessage, SigningKey

BLOCKED_DETAIL = "blocked by network policy"


def legacy_signing_key(secret_key: str, address: str) -> str:
    """The key Baton derived from the URL before per-owner keys; only the migration uses it, to
    keep existing receivers verifying through the grace period."""
    return hmac.new(secret_key.encode(), f"webhook:{address}".encode(), hashlib.sha256).hexdigest()


def sign(key: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_header(keys: Sequence[SigningKey], timestamp: str, body: bytes) -> str:
    return ", ".join(sign(key.secret, timestamp, body) for key in keys)


class GuardedResolver(AbstractResolver):
    """Resolves as usual, then refuses the whole name if any address is in a blocked network:
    aiohttp connects only to addresses this returned, so what was checked is what is reached."""

    def __init__(self, policy: NetworkPolicy, resolver: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._resolver = resolver or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            self._policy.check_address(result["host"])
        return results

    async def close(self) -> None:
        await self._resolver.close()


def event_name(message: OutboundMessage) -> str:
    """``incident.page``, ``incident.summary``, ``incident.acknowledged`` (a change), ``test``."""
    return str(message.context.get("event") or f"incident.{message.kind}")


def deploy_payload(context: dict[str, Any]) -> dict[str, Any] | None:
    """The deploy the incident followed (the page context's ``deploy`` and its words), or None:
    no deploy in its watch, or a responder judged it not related."""
    deploy = context.get("deploy")
    if not isinstance(deploy, dict) or not deploy or deploy.get("verdict") == "rejected":
        return None
    return {**deploy, "text": messages.deploy_line(context)}


class WebhookProvider:
    """POSTs with aiohttp: pages leave on the hot path, and it costs a fraction of the CPU of
    the other HTTP clients per request."""

    name = "webhook"

    def __init__(
        self,
        clock: Clock,
        policy: NetworkPolicy,
        *,
        timeout: float = 10.0,
        resolver: Callable[[], AbstractResolver] | None = None,
    ):
        self._clock = clock
        self._policy = policy
        # Tests hand in a resolver that answers for names no DNS here knows.
        self._make_resolver = resolver
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the event loop that runs the sends.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": "Baton-Webhook/1"},
                connector=aiohttp.TCPConnector(
                    resolver=GuardedResolver(
                        self._policy, self._make_resolver() if self._make_resolver else None
                    )
                ),
                # Never through a proxy from the environment: the guard checks where we connect.
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def payload(self, message: OutboundMessage) -> dict[str, Any]:
        context = message.context
        said: dict[str, Any] = {
            "event": event_name(message),
            "delivery_id": context.get("notification_id"),
            "subject": message.subject,
            "text": message.text,
            "incident": {
                k: v for k, v in context.items() if k not in ("notification_id", "event", "deploy")
            },
        }
        if "incident_id" in context:
            said["deploy"] = deploy_payload(context)
        return said

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if not message.signing_keys:
            return DeliveryResult(
                DeliveryStatus.PERMANENT_FAILURE,
                self.name,
                detail="no signing key: the webhook's owner no longer exists",
            )
        body = json.dumps(self.payload(message), separators=(",", ":"), default=str).encode()
        timestamp = str(int(self._clock.now().timestamp()))
        delivery = str(message.context.get("notification_id", ""))
        headers = {
            "Content-Type": "application/json",
            "X-Baton-Event": event_name(message),
            "X-Baton-Delivery": delivery,
            "X-Baton-Timestamp": timestamp,
            "X-Baton-Key-Id": message.signing_keys[0].key_id,
            "X-Baton-Signature": signature_header(message.signing_keys, timestamp, body),
        }
        try:
            # IP literals never reach the resolver, so they are checked here.
            self._policy.check_host_literal(urlsplit(message.address).hostname or "")
            async with self._client().post(
                message.address, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After", "")
        except BlockedDestination as exc:
            return DeliveryResult(
                DeliveryStatus.BLOCKED, self.name, detail=f"{BLOCKED_DETAIL}: {exc.reason}"
            )
        except (TimeoutError, aiohttp.ClientError):
            # One wording for refused, reset, unresolvable and timed out, and only the class of
            # a status: anyone can name a URL, and the recorded error must not tell them which
            # hosts and ports answer (a port scanner through Baton).
            return DeliveryResult(
                DeliveryStatus.TEMPORARY_FAILURE,
                self.name,
                detail="the webhook could not be reached",
            )
        if 200 <= status < 300:
            return DeliveryResult(
                DeliveryStatus.SENT, self.name, provider_message_id=delivery or None
            )
        detail = f"HTTP {status // 100}xx from the webhook"
        if status == 429 or status >= 500:
            return DeliveryResult(
                DeliveryStatus.TEMPORARY_FAILURE,
                self.name,
                detail=detail,
                retry_after_seconds=float(retry_after) if retry_after.isdigit() else None,
            )
        return DeliveryResult(DeliveryStatus.PERMANENT_FAILURE, self.name, detail=detail)
