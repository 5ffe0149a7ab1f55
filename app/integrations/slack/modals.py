"""The Slack app's interactive surfaces: dialogs to hand off, note and resolve; Accept on cover.

``register_interactions``, called at start-up by ``app.wiring.wire``, hands them to the
interactivity endpoint's registries (``interactions.BUTTONS`` and ``RESPONDERS``). Buttons run
right after Slack got its empty 200; a dialog's submission is answered in the HTTP response
itself (Slack keeps the dialog open with the error under the field, or closes it), within
Slack's 3 seconds: if the work takes longer the dialog closes and the outcome follows as an
ephemeral message.

Every action runs as the clicking Slack user's linked Baton user, with that user's rights.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from app.core.errors import BatonError, Conflict
from app.integrations.slack import app_blocks, interactions
from app.integrations.slack.app_blocks import Reply
from app.integrations.slack.background import answer_within
from app.integrations.slack.client import SlackAppApi, SlackCallFailed, send_reply
from app.integrations.slack.command_context import (
    LINK_HELP,
    Refusal,
    baton_user_of,
    incident_title,
    mentioned_user,
    principal_of,
)
from app.integrations.slack.commands import SlackMention
from app.integrations.slack.incident_commands import (
    Attempt,
    add_note,
    hand_over,
    resolve_with_note,
)
from app.integrations.slack.interactions import SlackContext, incident_ref, tell
from app.people.models import User
from app.schedules import cover

log = logging.getLogger(__name__)

ModalBuilder = Callable[[int, str, str], dict[str, Any]]
SLACK_UNREACHABLE = "Baton could not check your Slack profile just now; nothing was done."


def _action(payload: dict[str, Any]) -> dict[str, Any]:
    return (payload.get("actions") or [{}])[0]


def _team(payload: dict[str, Any]) -> str:
    user = payload.get("user") or {}
    return str((payload.get("team") or {}).get("id") or user.get("team_id") or "")


def _slack_user(payload: dict[str, Any]) -> str:
    return str((payload.get("user") or {}).get("id") or "")


# ------------------------------------------------------------------- buttons opening dialogs


def _opener(build: ModalBuilder) -> interactions.Handler:
    async def open_dialog(ctx: SlackContext, payload: dict[str, Any]) -> None:
        incident_id = incident_ref(_action(payload).get("value"))
        if incident_id is None or ctx.api is None:
            await tell(ctx, payload, "That button does not name an incident Baton knows.")
            return
        try:
            async with ctx.db.transaction() as session:
                title = await incident_title(session, incident_id)
        except BatonError as exc:
            await tell(ctx, payload, exc.detail)
            return
        meta = app_blocks.metadata(
            incident_id=incident_id,
            response_url=str(payload.get("response_url") or ""),
            channel_id=str((payload.get("channel") or {}).get("id") or ""),
        )
        try:
            await SlackAppApi(ctx.api).open_view(
                str(payload.get("trigger_id") or ""), build(incident_id, title, meta)
            )
        except SlackCallFailed as exc:
            log.warning("could not open a Slack dialog", extra={"error": exc.detail})
            await tell(ctx, payload, "Baton could not open the dialog; please try again.")

    return open_dialog


# ------------------------------------------------------------------------ dialog submissions


Submission = Callable[[SlackContext, dict[str, Any], dict[str, Any], int], Awaitable[Attempt]]


def _errors(block_id: str, text: str) -> dict[str, Any]:
    return {"response_action": "errors", "errors": {block_id: text[:300]}}


async def _handoff(
    ctx: SlackContext, payload: dict[str, Any], view: dict[str, Any], incident_id: int
) -> Attempt:
    target = app_blocks.submitted_user(view)
    if not target:
        return Attempt(False, "Pick the person to hand off to.")
    user: User = await mentioned_user(ctx, _team(payload), SlackMention(target, target))
    submitter = await baton_user_of(ctx, _team(payload), _slack_user(payload))
    assert submitter is not None  # checked before
    return await hand_over(ctx.db, submitter, incident_id, user, app_blocks.submitted_text(view))


async def _note(
    ctx: SlackContext, payload: dict[str, Any], view: dict[str, Any], incident_id: int
) -> Attempt:
    text = app_blocks.submitted_text(view)
    if not text:
        return Attempt(False, "Write the note.")
    submitter = await baton_user_of(ctx, _team(payload), _slack_user(payload))
    assert submitter is not None
    return await add_note(ctx.db, submitter, incident_id, text)


async def _resolve(
    ctx: SlackContext, payload: dict[str, Any], view: dict[str, Any], incident_id: int
) -> Attempt:
    submitter = await baton_user_of(ctx, _team(payload), _slack_user(payload))
    assert submitter is not None
    return await resolve_with_note(ctx.db, submitter, incident_id, app_blocks.submitted_text(view))


# callback_id -> (what to do, the input block an error is shown under)
SUBMISSIONS: dict[str, tuple[Submission, str]] = {
    app_blocks.VIEW_HANDOFF: (_handoff, app_blocks.BLOCK_HANDOFF_USER),
    app_blocks.VIEW_NOTE: (_note, app_blocks.BLOCK_NOTE),
    app_blocks.VIEW_RESOLVE: (_resolve, app_blocks.BLOCK_NOTE),
}


async def _submit(
    ctx: SlackContext, payload: dict[str, Any], view: dict[str, Any], submission: Submission
) -> Attempt:
    """Check the submitter is linked, then act; every problem becomes a failed Attempt."""
    incident_id = incident_ref(app_blocks.read_metadata(view).get("incident_id"))
    if incident_id is None:
        return Attempt(False, "This dialog lost track of its incident; open it again.")
    try:
        if await baton_user_of(ctx, _team(payload), _slack_user(payload)) is None:
            return Attempt(False, LINK_HELP)
        return await submission(ctx, payload, view, incident_id)
    except Refusal as exc:
        return Attempt(False, exc.text)
    except SlackCallFailed as exc:
        log.warning("a Slack call failed during a dialog", extra={"error": exc.detail})
        return Attempt(False, SLACK_UNREACHABLE)
    except Exception:
        # Slack shows a generic failure for a 500; say something useful instead.
        log.exception("Slack dialog submission failed")
        return Attempt(False, "Something went wrong inside Baton; nothing was done.")


# Dialogs of other features that answer their own submissions (callback_id -> responder).
VIEWS: dict[str, interactions.Responder] = {}


def register_view(callback_id: str, responder: interactions.Responder) -> None:
    """Answer submissions of dialogs with this ``callback_id`` with ``responder``."""
    VIEWS[callback_id] = responder


async def view_submission(ctx: SlackContext, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Answer a dialog: None closes it, ``errors`` keeps it open with the problem shown."""
    view = payload.get("view") or {}
    other = VIEWS.get(str(view.get("callback_id") or ""))
    if other is not None:
        return await other(ctx, payload)
    found = SUBMISSIONS.get(str(view.get("callback_id") or ""))
    if found is None:
        return None
    submission, block_id = found
    response_url = str(app_blocks.read_metadata(view).get("response_url") or "")

    async def confirm(result: Attempt) -> None:
        if response_url:
            await send_reply(response_url, Reply(result.text))

    job = _submit(ctx, payload, view, submission)
    if ctx.work is None:
        result: Attempt | None = await job
    else:
        result = await answer_within(ctx.work, job, confirm, name="slack-dialog")
    if result is None:
        return None  # still working: close the dialog; ``confirm`` tells the outcome later
    if not result.ok:
        return _errors(block_id, result.text)
    if ctx.work is None:
        await confirm(result)
    else:  # the dialog closes now; the confirmation need not hold up Slack's answer
        ctx.work.spawn(confirm(result), name="slack-dialog-confirm")
    return None


# ------------------------------------------------------------------------------ cover: Accept


async def _taken_by(ctx: SlackContext, request_id: int) -> str:
    async with ctx.db.transaction() as session:
        request = await cover.get_request(session, request_id)
        taker = await session.get(User, request.accepted_by_id) if request.accepted_by_id else None
    state = request.state.value
    if taker is None:
        return f"Cover request {request_id} is {state}; nothing was done."
    return f"Too late: {taker.name} already took cover request {request_id}."


async def accept_cover(ctx: SlackContext, payload: dict[str, Any]) -> None:
    """The first colleague to accept gets the override; later clicks are told it is taken."""
    request_id = incident_ref(_action(payload).get("value"))
    if request_id is None:
        await tell(ctx, payload, "That button does not name a cover request.")
        return
    try:
        user_id = await baton_user_of(ctx, _team(payload), _slack_user(payload))
    except SlackCallFailed:
        await tell(ctx, payload, SLACK_UNREACHABLE)
        return
    if user_id is None:
        await tell(ctx, payload, LINK_HELP)
        return
    try:
        async with ctx.db.transaction() as session:
            principal = await principal_of(session, user_id)
            request = await cover.accept_request(session, principal, request_id)
    except Conflict as exc:
        taken = exc.extra.get("state") == "accepted"
        await tell(ctx, payload, await _taken_by(ctx, request_id) if taken else exc.detail)
        return
    except (BatonError, Refusal) as exc:
        detail = exc.detail if isinstance(exc, BatonError) else exc.text
        await tell(ctx, payload, f"Could not accept cover request {request_id}: {detail}")
        return
    url = str(payload.get("response_url") or "")
    if url:  # take the button away from the message that held it
        text = f":white_check_mark: You took cover request {request.id}. Thank you!"
        await send_reply(url, Reply(text), replace_original=True)


def register_interactions() -> None:
    """Hand the Slack app's buttons and dialog submissions to the interactivity endpoint.

    Called at start-up by ``app.wiring.wire`` (again is harmless); importing this module
    registers nothing.
    """
    interactions.register_button(app_blocks.ACTION_HANDOFF_OPEN, _opener(app_blocks.handoff_modal))
    interactions.register_button(app_blocks.ACTION_NOTE_OPEN, _opener(app_blocks.note_modal))
    interactions.register_button(app_blocks.ACTION_RESOLVE_OPEN, _opener(app_blocks.resolve_modal))
    interactions.register_button(app_blocks.ACTION_COVER_ACCEPT, accept_cover)
    interactions.register_responder("view_submission", view_submission)
