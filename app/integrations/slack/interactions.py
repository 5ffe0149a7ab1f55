"""Slack interactivity: what a button on an incident message does.

The endpoint answers Slack at once (Slack shows an error after 3 seconds) and hands the
payload to a handler here, which runs afterwards: it finds the Baton user behind the Slack
user (which may take a Slack API call), acts as that user with their rights, and reports
problems to the clicker through the interaction's ``response_url``. Success needs no extra
message: the incident change updates every Slack message of the incident (``announce``).

The deploy verdict buttons ("Caused by this deploy" / "Not related") are in ``BUTTONS`` from
the start; other interaction types go in ``HANDLERS`` (run after the answer), buttons other
than the incident verbs in ``BUTTONS``, and types whose HTTP answer carries a body (a modal's
``view_submission``) in ``RESPONDERS``. The Slack app adds its own at start-up through
``register_button`` and ``register_responder`` (``modals.register_interactions``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import Database
from app.core.errors import BatonError
from app.deploys import service as deploys
from app.incidents import channel_actions as actions
from app.incidents.channel_actions import Action
from app.incidents.models import Incident
from app.integrations.slack import linking, page_blocks
from app.integrations.slack.background import BackgroundWork
from app.integrations.slack.client import SlackApi, SlackCallFailed
from app.people import service as people

log = logging.getLogger(__name__)

LINK_HELP = (
    "Baton does not know who you are yet, so nothing was done. Baton matches Slack users to "
    "Baton users by e-mail address: ask a Baton admin to give your Baton user the e-mail "
    "address of your Slack profile, or to link your Slack account to your Baton user "
    "(PUT /api/v1/users/<your id>/slack-link)."
)


@dataclass(frozen=True)
class SlackContext:
    """What an interaction handler needs, taken from the app at request time."""

    db: Database
    api: SlackApi | None
    public_url: str = ""
    # Where work that outlives the request runs (None: run it inline).
    work: BackgroundWork | None = None


Handler = Callable[[SlackContext, dict[str, Any]], Awaitable[None]]
# Answers inside Slack's 3 seconds with the HTTP body (None: an empty 200).
Responder = Callable[[SlackContext, dict[str, Any]], Awaitable[dict[str, Any] | None]]

ACTIONS: dict[str, Action] = {
    page_blocks.ACTION_ACKNOWLEDGE: Action.ACKNOWLEDGE,
    page_blocks.ACTION_RESOLVE: Action.RESOLVE,
    page_blocks.ACTION_ESCALATE: Action.ESCALATE,
}
_INCIDENT_REF = re.compile(r"^\s*(?:inc-|#)?(\d{1,18})\s*$", re.IGNORECASE)


def incident_ref(value: object) -> int | None:
    """The incident id a button carries: ``123``, ``#123`` or ``INC-123``."""
    match = _INCIDENT_REF.match(str(value or ""))
    return int(match[1]) if match else None


def dedupe_key(payload: dict[str, Any]) -> str | None:
    """What makes a click unique, so a retry or replay of it (even re-signed) acts once."""
    action = (payload.get("actions") or [{}])[0]
    user = (payload.get("user") or {}).get("id")
    if payload.get("type") == "block_actions" and user and action.get("action_ts"):
        return f"block_actions:{user}:{action.get('action_id')}:{action['action_ts']}"
    return None


async def handle_block_actions(ctx: SlackContext, payload: dict[str, Any]) -> None:
    try:
        await _block_actions(ctx, payload)
    except Exception:
        # Nothing is waiting for this task: log instead of losing the error.
        log.exception("Slack block action failed")


async def _block_actions(ctx: SlackContext, payload: dict[str, Any]) -> None:
    action = (payload.get("actions") or [{}])[0]
    button = BUTTONS.get(str(action.get("action_id", "")))
    if button is not None:
        await button(ctx, payload)
        return
    verb = ACTIONS.get(str(action.get("action_id", "")))
    if verb is None:
        return  # another app's button, or one of ours that needs no work
    incident_id = incident_ref(action.get("value"))
    if incident_id is None:
        await tell(ctx, payload, "That button does not name an incident Baton knows.")
        return
    user_id = await _clicker(ctx, payload)
    if user_id is None:
        return
    async with ctx.db.transaction() as session:
        principal = await people.principal_for_user(session, user_id, channel="slack")
        if principal is None:
            outcome = None
        else:
            outcome = await actions.act(session, principal, incident_id, verb)
    if outcome is None:
        await tell(ctx, payload, LINK_HELP)
    elif not outcome.changed or _on_ephemeral(payload):
        # An ephemeral message (a /baton answer) is not updated by the change: say what happened.
        await tell(ctx, payload, outcome.text)


async def _clicker(ctx: SlackContext, payload: dict[str, Any]) -> int | None:
    """The Baton user who clicked; None (and the clicker told why) when Baton cannot say."""
    try:
        user_id = await _baton_user(ctx, payload)
    except SlackCallFailed as exc:
        log.warning("could not look up a Slack user", extra={"error": exc.detail})
        await tell(
            ctx,
            payload,
            "Baton could not check your Slack profile just now, so "
            "nothing was done. Please try again in a minute.",
        )
        return None
    if user_id is None:
        await tell(ctx, payload, LINK_HELP)
    return user_id


_DEPLOY_REF = re.compile(r"^\s*(\d{1,18}):(\d{1,18})\s*$")


def deploy_ref(value: object) -> tuple[int, int] | None:
    """(incident id, deployment id) of a deploy verdict button (``page_blocks.deploy_value``)."""
    match = _DEPLOY_REF.match(str(value or ""))
    return (int(match[1]), int(match[2])) if match else None


async def judge_deploy(ctx: SlackContext, payload: dict[str, Any]) -> None:
    """ "Caused by this deploy" / "Not related" on a page: the clicker's verdict, as them."""
    action = (payload.get("actions") or [{}])[0]
    caused = action.get("action_id") == page_blocks.ACTION_DEPLOY_CAUSED
    ref = deploy_ref(action.get("value"))
    if ref is None:
        await tell(ctx, payload, "That button does not name a deploy Baton knows.")
        return
    incident_id, deployment_id = ref
    user_id = await _clicker(ctx, payload)
    if user_id is None:
        return
    changed = False
    async with ctx.db.transaction() as session:
        principal = await people.principal_for_user(session, user_id, channel="slack")
        if principal is None:
            text = LINK_HELP
        else:
            text, changed = await _judge(session, principal, incident_id, deployment_id, caused)
    if not changed or _on_ephemeral(payload):
        # A verdict that changed updates the page for everyone (``incident_updates``).
        await tell(ctx, payload, text)


async def _judge(
    session: AsyncSession, principal: Principal, incident_id: int, deployment_id: int, caused: bool
) -> tuple[str, bool]:
    """What to tell the clicker, and whether the verdict changed."""
    incident = await session.get(Incident, incident_id)
    before = (incident.nearby_deploy or {}).get("verdict") if incident is not None else None
    try:
        # A savepoint: a refusal undoes only the attempt, as for the incident buttons.
        async with session.begin_nested():
            incident = await deploys.judge(
                session, principal, incident_id, deployment_id, caused=caused
            )
    except BatonError as exc:
        return f"Could not record that for #{incident_id}: {exc.detail}", False
    after = (incident.nearby_deploy or {}).get("verdict")
    version = (incident.nearby_deploy or {}).get("version", "")
    said = "caused" if caused else "is not related to"
    if after == before:
        return f"Already recorded: deploy {version} {said} #{incident_id}.", False
    return f"Recorded: deploy {version} {said} #{incident_id}.", True


def _on_ephemeral(payload: dict[str, Any]) -> bool:
    return bool((payload.get("container") or {}).get("is_ephemeral"))


async def _baton_user(ctx: SlackContext, payload: dict[str, Any]) -> int | None:
    user = payload.get("user") or {}
    slack_user_id = str(user.get("id") or "")
    team_id = str((payload.get("team") or {}).get("id") or user.get("team_id") or "")
    if not slack_user_id:
        return None
    if ctx.api is None:
        async with ctx.db.transaction() as session:
            return await linking.linked_user_id(session, team_id, slack_user_id)
    return await linking.resolve_user(ctx.db, ctx.api, team_id, slack_user_id)


async def tell(ctx: SlackContext, payload: dict[str, Any], text: str) -> None:
    """An ephemeral answer to the person who clicked, and nobody else."""
    if ctx.api is None:
        return
    response_url = payload.get("response_url")
    if response_url:
        await ctx.api.respond(str(response_url), text)
        return
    channel = str((payload.get("channel") or {}).get("id") or "")
    user = str((payload.get("user") or {}).get("id") or "")
    if channel and user:
        try:
            await ctx.api.post_ephemeral(channel, user, text)
        except SlackCallFailed as exc:
            log.warning("could not answer a Slack user", extra={"error": exc.detail})


HANDLERS: dict[str, Handler] = {"block_actions": handle_block_actions}
BUTTONS: dict[str, Handler] = {
    page_blocks.ACTION_DEPLOY_CAUSED: judge_deploy,
    page_blocks.ACTION_DEPLOY_UNRELATED: judge_deploy,
}
RESPONDERS: dict[str, Responder] = {}


def register_button(action_id: str, handler: Handler) -> None:
    """Run ``handler`` for clicks on buttons with this ``action_id``."""
    BUTTONS[action_id] = handler


def register_responder(interaction_type: str, responder: Responder) -> None:
    """Answer interactions of this type in the HTTP response itself."""
    RESPONDERS[interaction_type] = responder
