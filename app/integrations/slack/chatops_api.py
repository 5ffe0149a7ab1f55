"""The Slack app's routes: the slash command endpoint and schedules' announcement settings."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from app.core.auth import Reader, Writer, public_route
from app.core.errors import Forbidden
from app.core.schemas import Id
from app.core.session import DbSession
from app.integrations.slack import announce
from app.integrations.slack.api import slack_context
from app.integrations.slack.app_blocks import Reply
from app.integrations.slack.background import BackgroundWork, answer_within
from app.integrations.slack.chatops import run_command
from app.integrations.slack.client import send_reply
from app.integrations.slack.command_context import CommandRequest
from app.integrations.slack.interactions import SlackContext
from app.integrations.slack.schemas import AnnouncementIn, AnnouncementOut
from app.integrations.slack.signature import verified_body
from app.notify.receipts import first_time

router = APIRouter(tags=["slack"])

COMMANDS_PATH = "/api/v1/slack/commands"
WORKING = "Working on it… the answer follows in a moment."


def _form(body: bytes) -> dict[str, str]:
    """The form fields (first value of each); anything unreadable is simply absent."""
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[0] for key, values in parsed.items() if values}


def _is_ssl_check(body: bytes) -> bool:
    # Slack checks the certificate of a command URL with ``ssl_check=1`` and may not sign it;
    # like Slack's Bolt, answer 200 to exactly that and do nothing else with it.
    return _form(body).get("ssl_check") == "1"


def _receipt_key(command: CommandRequest, signature: str) -> str:
    """What makes a command unique: Slack's trigger id, else the exact signed request."""
    if command.trigger_id:
        return f"slash:{command.team_id}:{command.user_id}:{command.trigger_id}"
    return "sig:" + hashlib.sha256(signature.encode()).hexdigest()


async def _first_delivery(request: Request, key: str) -> bool:
    db = request.app.state.db
    async with db.transaction() as session:
        return await first_time(session, "slack", key, db.clock.now())


def _answer(reply: Reply) -> Response:
    if reply.silent:
        return Response(status_code=status.HTTP_200_OK)
    return JSONResponse(reply.payload())


def _work(request: Request) -> BackgroundWork:
    work = getattr(request.app.state, "slack_work", None)
    if work is None:  # an app built without its lifespan (tests of single routes)
        work = request.app.state.slack_work = BackgroundWork()
    return work


@router.post(COMMANDS_PATH, openapi_extra=public_route("slack-signature"))
async def slash_command(request: Request) -> Response:
    """``/baton`` and ``/oncall``: answered within Slack's 3 seconds, inline when the work is
    quick, else "working on it" now and the answer through the command's ``response_url``."""
    try:
        body = await verified_body(request)
    except Forbidden:
        if _is_ssl_check(await request.body()):
            return Response(status_code=status.HTTP_200_OK)
        raise
    fields = _form(body)
    if fields.get("ssl_check") == "1":
        return Response(status_code=status.HTTP_200_OK)
    command = CommandRequest.from_form(fields)
    signature = request.headers.get("x-slack-signature", "")
    if not await _first_delivery(request, _receipt_key(command, signature)):
        if request.headers.get("x-slack-retry-num"):
            return Response(status_code=status.HTTP_200_OK)  # Slack retrying: already done
        raise Forbidden("this command was already received", code="replayed")
    ctx: SlackContext = slack_context(request)

    async def follow_up(reply: Reply) -> None:
        if command.response_url and not reply.silent:
            await send_reply(command.response_url, reply)

    reply = await answer_within(_work(request), run_command(ctx, command), follow_up)
    return _answer(reply if reply is not None else Reply(WORKING))


# ------------------------------------------------------------------------- announcements

ANNOUNCEMENTS_PATH = "/api/v1/schedules/{schedule_id}/slack-announcements"


@router.get(ANNOUNCEMENTS_PATH, response_model=AnnouncementOut)
async def get_announcements(session: DbSession, _: Reader, schedule_id: Id) -> AnnouncementOut:
    """The schedule's Slack announcement settings and what was last announced."""
    return announce.as_out(schedule_id, await announce.get_settings(session, schedule_id))


@router.put(ANNOUNCEMENTS_PATH, response_model=AnnouncementOut)
async def set_announcements(
    session: DbSession, principal: Writer, schedule_id: Id, body: AnnouncementIn
) -> AnnouncementOut:
    """Post to a channel at hand-offs and/or daily, keep a user group and a topic in sync."""
    row = await announce.set_settings(session, principal, schedule_id, body)
    return announce.as_out(schedule_id, row)


@router.delete(ANNOUNCEMENTS_PATH, status_code=status.HTTP_204_NO_CONTENT)
async def delete_announcements(session: DbSession, principal: Writer, schedule_id: Id) -> Response:
    await announce.delete_settings(session, principal, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
