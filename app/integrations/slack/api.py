"""Slack's interactivity endpoint, and the API to link Slack users to Baton users."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import Field

from app.core.auth import AdminOnly, Reader, Writer, public_route
from app.core.db import Database
from app.core.errors import Forbidden, InvalidInput
from app.core.jsondepth import nests_deeper_than, too_deep_detail
from app.core.schemas import Id, InputModel, OutputModel
from app.core.session import DbSession
from app.integrations.slack import linking
from app.integrations.slack.interactions import HANDLERS, RESPONDERS, SlackContext, dedupe_key
from app.integrations.slack.provider import SlackProvider
from app.integrations.slack.signature import verified_body
from app.notify.receipts import first_time
from app.people import service as people
from app.people.models import ContactType

router = APIRouter(tags=["slack"])


def slack_context(request: Request) -> SlackContext:
    """The Slack Web API client Baton pages with (None when Slack is not configured)."""
    provider = request.app.state.notifier.provider_for(ContactType.SLACK)
    api = provider.api if isinstance(provider, SlackProvider) else None
    return SlackContext(
        db=request.app.state.db,
        api=api,
        public_url=request.app.state.settings.public_url,
        work=getattr(request.app.state, "slack_work", None),
    )


def parse_payload(body: bytes) -> dict[str, Any]:
    """The ``payload`` form field of an interaction, as JSON; 400 for anything else."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        text = fields["payload"][0]
        if nests_deeper_than(text.encode()):
            raise InvalidInput(too_deep_detail(), code="bad_payload", field="body.payload")
        payload = json.loads(text)
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        raise InvalidInput(
            "expected a form field 'payload' holding JSON", code="bad_payload", field="body.payload"
        ) from None
    if not isinstance(payload, dict):
        raise InvalidInput(
            "the payload must be a JSON object", code="bad_payload", field="body.payload"
        )
    return payload


async def _first_delivery(db: Database, key: str) -> bool:
    async with db.transaction() as session:
        return await first_time(session, "slack", key, db.clock.now())


@router.post("/api/v1/slack/interactions", openapi_extra=public_route("slack-signature"))
async def interactions(request: Request, background: BackgroundTasks) -> Response:
    """Button clicks (``block_actions``); answered at once, the work runs right after."""
    body = await verified_body(request)
    payload = parse_payload(body)
    signature = request.headers.get("x-slack-signature", "")
    key = dedupe_key(payload) or "sig:" + hashlib.sha256(signature.encode()).hexdigest()
    if not await _first_delivery(request.app.state.db, key):
        if request.headers.get("x-slack-retry-num"):
            return Response(status_code=status.HTTP_200_OK)  # Slack retrying: already done
        raise Forbidden("this interaction was already received", code="replayed")
    responder = RESPONDERS.get(str(payload.get("type", "")))
    if responder is not None:
        answer = await responder(slack_context(request), payload)
        return JSONResponse(answer) if answer else Response(status_code=status.HTTP_200_OK)
    handler = HANDLERS.get(str(payload.get("type", "")))
    if handler is not None:
        background.add_task(handler, slack_context(request), payload)
    return Response(status_code=status.HTTP_200_OK)


# ---------------------------------------------------------------------------------- links


class SlackLinkOut(OutputModel):
    user_id: int
    linked: bool
    slack_user_id: str | None = None
    slack_team_id: str | None = None
    method: str | None = None


class SlackLinkSet(InputModel):
    slack_user_id: str = Field(pattern=r"^[UW][A-Z0-9]{2,30}$")
    slack_team_id: str = Field(
        default="",
        pattern=r"^(T[A-Z0-9]{2,30})?$",
        description="Empty: the link holds in any workspace.",
    )


def _link_out(user_id: Id, link: Any) -> SlackLinkOut:
    if link is None:
        return SlackLinkOut(user_id=user_id, linked=False)
    return SlackLinkOut(
        user_id=user_id,
        linked=True,
        slack_user_id=link.slack_user_id,
        slack_team_id=link.slack_team_id or None,
        method=link.method,
    )


@router.get("/api/v1/users/{user_id}/slack-link", response_model=SlackLinkOut)
async def get_slack_link(session: DbSession, _: Reader, user_id: Id) -> SlackLinkOut:
    await people.get_user(session, user_id)
    return _link_out(user_id, await linking.link_for_user(session, user_id))


@router.put("/api/v1/users/{user_id}/slack-link", response_model=SlackLinkOut)
async def set_slack_link(
    request: Request, session: DbSession, principal: AdminOnly, user_id: Id, body: SlackLinkSet
) -> SlackLinkOut:
    """Admins link a Slack user whose Slack e-mail differs from their Baton e-mail."""
    await people.get_user(session, user_id)
    link = await linking.save_link(
        session,
        team_id=body.slack_team_id,
        slack_user_id=body.slack_user_id,
        user_id=user_id,
        method="admin",
        now=request.app.state.clock.now(),
    )
    return _link_out(user_id, link)


@router.delete("/api/v1/users/{user_id}/slack-link", status_code=status.HTTP_204_NO_CONTENT)
async def delete_slack_link(session: DbSession, principal: Writer, user_id: Id) -> Response:
    await people.get_user(session, user_id)
    principal.require_self_or_admin(user_id)
    await linking.unlink(session, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
