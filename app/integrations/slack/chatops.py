"""Running a slash command: parse it, find the caller's Baton user, dispatch, word the answer.

``run_command`` never raises: whatever goes wrong becomes an ephemeral answer saying what, and
a refused command has changed nothing (each command runs in transactions that roll back on a
refusal).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from app.audit import service as audit
from app.integrations.slack import (
    commands,
    incident_commands,
    linking,
    review_commands,
    schedule_commands,
)
from app.integrations.slack.app_blocks import Reply
from app.integrations.slack.client import SlackCallFailed
from app.integrations.slack.command_context import (
    LINK_HELP,
    Call,
    CommandRequest,
    Refusal,
    baton_user_of,
)
from app.integrations.slack.commands import UsageError
from app.integrations.slack.interactions import SlackContext
from app.people import service as people
from app.people.models import User

log = logging.getLogger(__name__)

SLACK_UNREACHABLE = (
    "Baton could not reach Slack just now, so nothing was done. Please try again in a minute."
)
FAILED = "Something went wrong inside Baton, so nothing was done. The error was logged."

HANDLERS: dict[str, Callable[[Call], Awaitable[Reply]]] = {
    **incident_commands.HANDLERS,
    **schedule_commands.HANDLERS,
    **review_commands.HANDLERS,
}


async def run_command(ctx: SlackContext, request: CommandRequest) -> Reply:
    """The answer to one slash command (Slack shows it to the caller, or the channel)."""
    try:
        return await _run(ctx, request)
    except UsageError as exc:
        return Reply(commands.help_text(exc.subcommand, exc.problem))
    except Refusal as exc:
        return Reply(exc.text)
    except SlackCallFailed as exc:
        log.warning("a Slack call failed during a command", extra={"error": exc.detail})
        return Reply(SLACK_UNREACHABLE)
    except Exception:
        log.exception("Slack command failed", extra={"command": request.command})
        return Reply(FAILED)


async def _run(ctx: SlackContext, request: CommandRequest) -> Reply:
    if request.problems:
        raise UsageError("Baton could not read this command: " + "; ".join(request.problems))
    invocation = commands.parse(request.command, request.text)
    if invocation.name == "help":
        topic, _ = commands.split_first(invocation.text)
        return Reply(commands.help_text(commands.ALIASES.get(topic, topic) or None))
    if invocation.name == "link":
        return await link(ctx, request)
    user_id = await baton_user_of(ctx, request.team_id, request.user_id)
    if user_id is None:
        return Reply(LINK_HELP)
    if invocation.name == "unlink":
        return await unlink(ctx, user_id)
    return await HANDLERS[invocation.name](Call(ctx, request, invocation, user_id))


async def link(ctx: SlackContext, request: CommandRequest) -> Reply:
    """Link by the e-mail of the caller's Slack profile (``users.info``), or say how to."""
    async with ctx.db.transaction() as session:
        known = await linking.linked_user_id(session, request.team_id, request.user_id)
        user = await session.get(User, known) if known is not None else None
    if user is not None:
        return Reply(f"You are linked to the Baton user {user.name} <{user.email}>.")
    if ctx.api is None:
        raise Refusal("Slack is not fully configured in Baton (no bot token); ask an admin.")
    profile = await ctx.api.user(request.user_id)  # network: outside any transaction
    if profile is None or not profile.email:
        raise Refusal(
            "Slack did not share the e-mail address of your profile, so Baton cannot match you. "
            "Ask a Baton admin to link you (PUT /api/v1/users/<your id>/slack-link)."
        )
    async with ctx.db.transaction() as session:
        user = await people.get_user_by_email(session, profile.email)
        if user is None:
            raise Refusal(
                f"No Baton user has the e-mail address of your Slack profile ({profile.email}). "
                "Ask a Baton admin to give your Baton user that address, or to link you "
                "(PUT /api/v1/users/<your id>/slack-link)."
            )
        audit.act_as(session, audit.Actor.person(user.id, "slack"))
        await linking.save_link(
            session,
            team_id=request.team_id,
            slack_user_id=request.user_id,
            user_id=user.id,
            method="email",
            now=ctx.db.clock.now(),
        )
    return Reply(f"Linked: you are the Baton user {user.name} <{user.email}>.")


async def unlink(ctx: SlackContext, user_id: int) -> Reply:
    async with ctx.db.transaction() as session:
        audit.act_as(session, audit.Actor.person(user_id, "slack"))
        removed = await linking.unlink(session, user_id)
    if not removed:
        return Reply("You were not linked explicitly; nothing to undo.")
    return Reply(
        "Unlinked. Baton matches Slack users by e-mail, so your next command links you again "
        "if your Slack and Baton addresses are the same."
    )
