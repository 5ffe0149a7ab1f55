"""Slack's Web API as Baton calls it: every Slack request Baton makes goes through here.

``SlackApi`` (``slack_sdk``'s ``AsyncWebClient`` pointed at ``slack_api_base_url``) makes the
paging calls: DMs, posts, updates, ephemeral answers and profiles. ``SlackAppApi`` wraps the
same client for the Slack app's calls beyond paging (dialogs, user groups, topics), and
``send_reply`` answers through a ``response_url``. Every failure becomes ``SlackCallFailed``,
so callers handle one error type.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from app.integrations.slack.app_blocks import Reply

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


# ---------------------------------------------------------------- the Slack app's calls

REPLY_TIMEOUT_SECONDS = 10


class SlackAppApi:
    def __init__(self, api: SlackApi) -> None:
        self.api = api

    async def _call(self, method: str, call: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
        try:
            response = await call()
        except SlackApiError as exc:
            status = getattr(exc.response, "status_code", 200)
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error", "unknown_error"))
            raise SlackCallFailed(
                f"Slack {method}: {error}", temporary=status == 429 or status >= 500
            ) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SlackCallFailed(
                f"Slack {method} failed ({type(exc).__name__})", temporary=True
            ) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """``views.open``: the trigger is only good for 3 seconds after the click."""
        client = self.api.client
        await self._call("views.open", lambda: client.views_open(trigger_id=trigger_id, view=view))

    async def set_usergroup_members(self, usergroup_id: str, slack_user_ids: list[str]) -> None:
        """``usergroups.users.update`` replaces the whole membership."""
        client = self.api.client
        await self._call(
            "usergroups.users.update",
            lambda: client.usergroups_users_update(
                usergroup=usergroup_id, users=",".join(slack_user_ids)
            ),
        )

    async def set_topic(self, channel_id: str, topic: str) -> None:
        client = self.api.client
        await self._call(
            "conversations.setTopic",
            lambda: client.conversations_setTopic(channel=channel_id, topic=topic[:250]),
        )


async def send_reply(response_url: str, reply: Reply, *, replace_original: bool = False) -> bool:
    """Answer through a ``response_url`` (a slash command's or a click's), with blocks.

    A ``response_url`` needs no token: Slack handed it to us in a signed request.
    """
    client = AsyncWebhookClient(response_url, timeout=REPLY_TIMEOUT_SECONDS, retry_handlers=[])
    try:
        response = await client.send(
            text=reply.text,
            blocks=reply.blocks or None,
            response_type=None if replace_original else reply.payload()["response_type"],
            replace_original=replace_original,
        )
    except (aiohttp.ClientError, TimeoutError):
        log.warning("could not answer through a Slack response_url")
        return False
    if response.status_code != 200:
        log.warning("Slack refused a response_url post", extra={"status": response.status_code})
    return response.status_code == 200
