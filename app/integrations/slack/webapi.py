"""The Slack Web API calls of the Slack app beyond paging: modals, user groups, topics, replies.

Paging's calls (DMs, posts, updates, profiles) live in ``app.notify.slack.SlackApi``; this
wraps the same ``AsyncWebClient`` for the rest, and turns every failure into the same
``SlackCallFailed``, so callers handle one error type.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from app.integrations.slack.replies import Reply
from app.notify.slack import SlackApi, SlackCallFailed

log = logging.getLogger(__name__)

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
