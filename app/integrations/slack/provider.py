"""Slack as a paging channel: posts pages to DMs and channels and keeps them up to date.

Pages to a person go to their DM (``conversations.open`` then ``chat.postMessage``); pages to a
channel go there. A posted page is remembered as ``provider_message_id = "<channel>:<ts>"`` so
that later state changes can ``chat.update`` it (``OP_UPDATE``) and reply in its thread
(``OP_REPLY``). Cover requests to colleagues carry an Accept button (``app_blocks``).
"""

from __future__ import annotations

import re
from typing import Any

from app.integrations.slack import app_blocks, page_blocks, readiness_blocks
from app.integrations.slack.client import SlackApi, SlackCallFailed
from app.notify.base import DeliveryResult, DeliveryStatus, MessageKind, OutboundMessage
from app.notify.pacing import Pacer
from app.readiness import text as readiness_text
from app.review import digest_text

# What a status update does to the posted page (``slack_op`` in its context).
OP_UPDATE = "update"
OP_REPLY = "reply"
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


def message_ref(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def parse_message_ref(ref: str | None) -> tuple[str, str] | None:
    """``(channel, ts)`` of a posted Slack message, from its ``provider_message_id``."""
    if not ref or ":" not in ref:
        return None
    channel, _, ts = ref.partition(":")
    return (channel, ts) if channel and ts else None


def is_cover_request(message: OutboundMessage) -> bool:
    """The question to colleagues (the confirmations after accepting carry ``override_id``)."""
    context = message.context
    return (
        message.kind is MessageKind.INFO
        and "cover_request_id" in context
        and "override_id" not in context
    )


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
        if is_cover_request(message):
            request_id = int(context["cover_request_id"])
            return message.text, app_blocks.cover_request_blocks(message.text, request_id)
        if message.kind is MessageKind.PAGE and "incident_id" in context:
            return (
                page_blocks.incident_fallback(context),
                page_blocks.incident_blocks(context, self.public_url),
            )
        if message.kind is MessageKind.SUMMARY:
            return message.text, page_blocks.summary_blocks(context, self.public_url)
        if context.get("event") == digest_text.EVENT and "digest" in context:
            digest = digest_text.Digest.from_json(context["digest"])
            return message.text, digest_text.slack_blocks(digest, self.public_url)
        if context.get("event") == readiness_text.EVENT and "notice" in context:
            notice = readiness_blocks.notice_of(context)
            if notice is not None:
                return (
                    readiness_blocks.notice_fallback(notice),
                    readiness_blocks.notice_blocks(notice, self.public_url),
                )
        return message.text, page_blocks.text_blocks(message.text)

    async def _status_update(self, message: OutboundMessage) -> DeliveryResult:
        context = message.context
        channel, ts = message.address, str(context.get("slack_ts", ""))
        await self.pacer.acquire(channel)
        if context.get("slack_op") == OP_UPDATE:
            await self.api.update(
                channel,
                ts,
                page_blocks.incident_fallback(context),
                page_blocks.incident_blocks(
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
