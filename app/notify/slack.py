"""Slack: the Web API client Baton uses, and the provider that posts and updates pages.

All of Baton's Slack network traffic goes through ``SlackApi`` (``slack_sdk``'s
``AsyncWebClient`` pointed at ``slack_api_base_url``). Pages to a person go to their DM
(``conversations.open`` then ``chat.postMessage``); pages to a channel go there. A posted
page is remembered as ``provider_message_id = "<channel>:<ts>"`` so that later state changes
can ``chat.update`` it and reply in its thread (``app.notify.updates``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from app.notify import slackblocks
from app.notify.base import DeliveryResult, DeliveryStatus, MessageKind, OutboundMessage
from app.notify.pacing import Pacer

log = logging.getLogger(__name__)

# The address itself is wrong: the contact method should not be used again.
UNUSABLE_ERRORS = frozenset(
    {
        "user_not_found",
        "users_not_found",
        "channel_not_found",
        "is_archived",
        "account_inactive",
        "user_disabled",
        "cannot_dm_bot",
    }
)
TEMPORARY_ERRORS = frozenset(
    {"ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
OP_UPDATE = "update"
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
OP_REPLY = "reply"


def message_ref(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def parse_message_ref(ref: str | None) -> tuple[str, str] | None:
    """``(channel, ts)`` of a posted Slack message, from its ``provider_message_id``."""
    if not ref or ":" not in ref:
        return None
    channel, _, ts = ref.partition(":")
    return (channel, ts) if channel and ts else None


class SlackCallFailed(Exception):
    """A Slack call failed; ``temporary`` says whether trying again later may work."""

    def __init__(
        self,
        detail: str,
        *,
        temporary: bool,
        retry_after: float | None = None,
        unusable: bool = False,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.temporary = temporary
        self.retry_after = retry_after
        self.unusable = unusable


@dataclass(frozen=True, slots=True)
class SlackUser:
    id: str
    email: str | None
    name: str


class SlackApi:
    """The Slack Web API calls Baton makes; every error becomes ``SlackCallFailed``."""

    def __init__(
        self, token: str, base_url: str, *, timeout: int = 10, client: AsyncWebClient | None = None
    ) -> None:
        # No retry handlers: the dispatcher retries with backoff and honours Retry-After, and a
        # blind retry after a dropped connection could post a page twice.
        self.client = client or AsyncWebClient(
            token=token, base_url=base_url, timeout=timeout, retry_handlers=[]
        )
        self.timeout = timeout

    async def _call(
        self, method: str, call: Callable[[], Awaitable[Any]], *, idempotent: bool
    ) -> dict[str, Any]:
        try:
            response = await call()
        except SlackApiError as exc:
            raise _classify_api_error(method, exc) from None
        except TimeoutError as exc:  # includes aiohttp.ServerTimeoutError
            raise SlackCallFailed(
                f"Slack {method} timed out; "
                + ("trying again" if idempotent else "outcome unknown, not repeated"),
                temporary=idempotent,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise SlackCallFailed(f"could not reach Slack for {method}", temporary=True) from exc
        except aiohttp.ClientError as exc:
            raise SlackCallFailed(
                f"connection to Slack lost during {method} ({type(exc).__name__})",
                temporary=idempotent,
            ) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def open_dm(self, user_id: str) -> str:
        data = await self._call(
            "conversations.open",
            lambda: self.client.conversations_open(users=user_id),
            idempotent=True,
        )
        return str(data["channel"]["id"])

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
    ) -> tuple[str, str]:
        args: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if blocks:
            args["blocks"] = blocks
        if thread_ts:
            args["thread_ts"] = thread_ts
        data = await self._call(
            "chat.postMessage", lambda: self.client.chat_postMessage(**args), idempotent=False
        )
        return str(data["channel"]), str(data["ts"])

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        await self._call(
            "chat.update",
            lambda: self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks),
            idempotent=True,
        )

    async def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        await self._call(
            "chat.postEphemeral",
            lambda: self.client.chat_postEphemeral(channel=channel, user=user, text=text),
            idempotent=False,
        )

    async def user(self, user_id: str) -> SlackUser | None:
        """The Slack user's profile (``users.info``), or None if Slack does not know them."""
        try:
            data = await self._call(
                "users.info", lambda: self.client.users_info(user=user_id), idempotent=True
            )
        except SlackCallFailed as exc:
            if exc.unusable:
                return None
            raise
        user = data.get("user") or {}
        profile = user.get("profile") or {}
        if user.get("deleted"):
            return None
        return SlackUser(str(user.get("id", user_id)), profile.get("email"), str(user.get("name")))

    async def lookup_by_email(self, email: str) -> str | None:
        """The Slack user id for ``email`` (``users.lookupByEmail``), or None."""
        try:
            data = await self._call(
                "users.lookupByEmail",
                lambda: self.client.users_lookupByEmail(email=email),
                idempotent=True,
            )
        except SlackCallFailed as exc:
            if exc.unusable:
                return None
            raise
        return str((data.get("user") or {}).get("id") or "") or None

    async def respond(
        self, response_url: str, text: str, *, replace_original: bool = False
    ) -> bool:
        """Answer an interaction through its ``response_url`` (ephemeral unless replacing)."""
        client = AsyncWebhookClient(response_url, timeout=self.timeout, retry_handlers=[])
        try:
            response = await client.send(
                text=text,
                response_type=None if replace_original else "ephemeral",
                replace_original=replace_original,
            )
        except (aiohttp.ClientError, TimeoutError):
            log.warning("could not answer a Slack interaction through its response_url")
            return False
        if response.status_code != 200:
            log.warning("Slack refused a response_url post", extra={"status": response.status_code})
        return response.status_code == 200


def _classify_api_error(method: str, exc: SlackApiError) -> SlackCallFailed:
    response = exc.response
    status = getattr(response, "status_code", 200)
    error = (
        str((response.data or {}).get("error", "unknown_error"))
        if isinstance(getattr(response, "data", None), dict)
        else "unknown_error"
    )
    if status == 429 or error == "ratelimited":
        retry_after = _retry_after(getattr(response, "headers", {}) or {})
        wait = f" (retry after {retry_after:g}s)" if retry_after else ""
        return SlackCallFailed(
            f"Slack rate limited {method}{wait}", temporary=True, retry_after=retry_after
        )
    if status >= 500 or error in TEMPORARY_ERRORS:
        return SlackCallFailed(f"Slack {method} failed ({status} {error})", temporary=True)
    return SlackCallFailed(
        f"Slack {method}: {error}", temporary=False, unusable=error in UNUSABLE_ERRORS
    )


def _retry_after(headers: Any) -> float | None:
    value = None
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key) if hasattr(headers, "get") else None
        if value:
            break
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


class SlackProvider:
    """Posts pages to DMs and channels, and keeps posted pages up to date."""

    name = "slack"

    def __init__(self, api: SlackApi, public_url: str, *, pacer: Pacer | None = None) -> None:
        self.api = api
        self.public_url = public_url.rstrip("/")
        # Slack allows about one message per second per channel.
        self.pacer = pacer or Pacer(1.0)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        try:
            if message.kind is MessageKind.STATUS_UPDATE:
                return await self._status_update(message)
            return await self._post(message)
        except SlackCallFailed as exc:
            return DeliveryResult(
                DeliveryStatus.TEMPORARY_FAILURE
                if exc.temporary
                else DeliveryStatus.PERMANENT_FAILURE,
                self.name,
                detail=exc.detail,
                retry_after_seconds=exc.retry_after,
                contact_method_unusable=exc.unusable,
            )

    async def _post(self, message: OutboundMessage) -> DeliveryResult:
        channel = message.address
        if channel[:1] in ("U", "W"):
            channel = await self.api.open_dm(channel)
        elif not _CHANNEL_ID.match(channel):
            channel = "#" + channel.lstrip("#")  # an escalation step may name the channel
        await self.pacer.acquire(channel)
        text, blocks = self.render(message)
        posted_channel, ts = await self.api.post(channel, text, blocks)
        return DeliveryResult(
            DeliveryStatus.SENT, self.name, provider_message_id=message_ref(posted_channel, ts)
        )

    def render(self, message: OutboundMessage) -> tuple[str, list[dict[str, Any]]]:
        context = message.context
        if message.kind is MessageKind.PAGE and "incident_id" in context:
            return (
                slackblocks.incident_fallback(context),
                slackblocks.incident_blocks(context, self.public_url),
            )
        if message.kind is MessageKind.SUMMARY:
            return message.text, slackblocks.summary_blocks(context, self.public_url)
        return message.text, slackblocks.text_blocks(message.text)

    async def _status_update(self, message: OutboundMessage) -> DeliveryResult:
        context = message.context
        channel, ts = message.address, str(context.get("slack_ts", ""))
        await self.pacer.acquire(channel)
        if context.get("slack_op") == OP_UPDATE:
            await self.api.update(
                channel,
                ts,
                slackblocks.incident_fallback(context),
                slackblocks.incident_blocks(
                    context, self.public_url, status_line=str(context.get("status_text", ""))
                ),
            )
            return DeliveryResult(
                DeliveryStatus.SENT, self.name, provider_message_id=message_ref(channel, ts)
            )
        posted_channel, reply_ts = await self.api.post(channel, message.text, thread_ts=ts)
        return DeliveryResult(
            DeliveryStatus.SENT,
            self.name,
            provider_message_id=message_ref(posted_channel, reply_ts),
        )
