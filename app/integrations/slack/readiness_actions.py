"""Hand-over and handback answered from Slack: Accept / Decline on a readiness notice.

Every answer runs as the clicking Slack user's linked Baton user, with that user's rights
(``principal_of``, channel ``slack``); the readiness service decides and refuses as it does
over HTTP. Accept on a handback proposal acts at once. Accept on a hand-over request opens a
dialog for Ops's escalation policy; Decline (of either) opens one for the reason. Whatever
the service refuses (a required item failing, missing rights, an answer already given) is told
to the clicker alone; a decision redraws every posted copy of the notice to say who decided.

``register_interactions``, called at start-up by ``app.wiring.wire``, hands the buttons and the
dialogs to the interactivity endpoint; importing this module registers nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Service
from app.core.auth import Principal
from app.core.errors import BatonError, Conflict, InvalidInput, NotFound
from app.escalation.models import EscalationPolicy
from app.integrations.slack import app_blocks, interactions, modals
from app.integrations.slack import readiness_blocks as blocks
from app.integrations.slack.background import answer_within
from app.integrations.slack.client import SlackAppApi, SlackCallFailed
from app.integrations.slack.command_context import LINK_HELP, Refusal, baton_user_of, principal_of
from app.integrations.slack.interactions import SlackContext, tell
from app.integrations.slack.provider import parse_message_ref
from app.notify.models import Notification
from app.people.models import ContactType, Team, User
from app.readiness import service as readiness
from app.readiness.models import HandbackProposal, HandoverRequest, RequestState
from app.readiness.text import EVENT, Notice

log = logging.getLogger(__name__)

_ID = re.compile(r"^\s*(\d{1,18})\s*$")
# The posted copies of one notice: both teams' channels, and a few re-posts at most.
MAX_POSTED_COPIES = 50
GONE_WRONG = "Something went wrong inside Baton; nothing was done."


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a dialog's work ended with; ``block_id``: the dialog field the problem is shown
    under (the dialog stays open), else the text goes to the submitter alone."""

    ok: bool
    text: str
    block_id: str | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """An open hand-over request or handback proposal, as the dialogs name it."""

    kind: str
    id: int
    service_id: int
    service: str
    dev_team: str
    ops_team_id: int | None
    ops_team: str
    opened_at: datetime

    @property
    def what(self) -> str:
        return blocks.what(self.kind)


def _action(payload: dict[str, Any]) -> dict[str, Any]:
    return (payload.get("actions") or [{}])[0]


def _team(payload: dict[str, Any]) -> str:
    user = payload.get("user") or {}
    return str((payload.get("team") or {}).get("id") or user.get("team_id") or "")


def _slack_user(payload: dict[str, Any]) -> str:
    return str((payload.get("user") or {}).get("id") or "")


def _answer_id(value: object) -> int | None:
    match = _ID.match(str(value or ""))
    return int(match[1]) if match else None


async def _user_name(session: AsyncSession, user_id: int | None) -> str:
    user = await session.get(User, user_id) if user_id is not None else None
    return user.name if user is not None else "someone"


async def _team_name(session: AsyncSession, team_id: int | None) -> str:
    team = await session.get(Team, team_id) if team_id is not None else None
    return team.name if team is not None else "no team"


async def _subject(session: AsyncSession, kind: str, answer_id: int) -> Subject:
    """The open request or proposal; NotFound or Conflict (saying who answered) otherwise."""
    row: HandoverRequest | HandbackProposal | None
    if kind == blocks.HANDOVER:
        row = await session.get(HandoverRequest, answer_id)
    else:
        row = await session.get(HandbackProposal, answer_id)
    what = blocks.what(kind)
    service = await session.get(Service, row.service_id) if row is not None else None
    if row is None or service is None:
        raise NotFound(f"Baton has no {what} {answer_id} any more; nothing was done.")
    if row.state is not RequestState.OPEN:
        state = row.state.value.replace("_", " ")
        if row.decided_by_id is not None:
            by = await _user_name(session, row.decided_by_id)
            raise Conflict(f"This {what} was already {state} by {by}; nothing was done.")
        raise Conflict(f"This {what} is {state}; nothing was done.")
    if isinstance(row, HandoverRequest):
        ops_team_id, opened_at = row.ops_team_id, row.requested_at
    else:
        ops_team_id, opened_at = service.ops_team_id, row.created_at
    return Subject(
        kind=kind,
        id=answer_id,
        service_id=service.id,
        service=service.name,
        dev_team=await _team_name(session, service.team_id),
        ops_team_id=ops_team_id,
        ops_team=await _team_name(session, ops_team_id),
        opened_at=opened_at,
    )


def _require_answerer(principal: Principal, subject: Subject, verb: str) -> None:
    """The readiness service's rule, checked before a dialog opens so nobody fills one in for
    nothing; the service checks again when the dialog is submitted."""
    if not principal.can_write:
        raise Refusal("Viewers can look but not change anything, so nothing was done.")
    if readiness.answers_for_ops(principal, subject.ops_team_id):
        return
    raise Refusal(
        f"Only members of the Ops team ({subject.ops_team}) or admins can {verb} this "
        f"{subject.what}; nothing was done."
    )


async def _policies(
    session: AsyncSession, ops_team_id: int | None
) -> tuple[list[blocks.PolicyChoice], int | None]:
    """The escalation policies to pick from, the Ops team's first, and the one to preselect
    (the Ops team's only policy, if it has exactly one)."""
    theirs_first = case((EscalationPolicy.team_id == ops_team_id, 0), else_=1)
    rows = (
        await session.execute(
            select(EscalationPolicy.id, EscalationPolicy.name, EscalationPolicy.team_id, Team.name)
            .join(Team, Team.id == EscalationPolicy.team_id)
            .order_by(theirs_first, EscalationPolicy.name, EscalationPolicy.id)
            .limit(blocks.MAX_OPTIONS)
        )
    ).all()
    choices = [blocks.PolicyChoice(pid, name, team) for pid, name, _, team in rows]
    theirs = [pid for pid, _, team_id, _ in rows if team_id == ops_team_id]
    return choices, theirs[0] if len(theirs) == 1 else None


async def _clicker(ctx: SlackContext, payload: dict[str, Any]) -> int | None:
    """The Baton user behind the click; None (and the clicker told why) when there is none."""
    try:
        user_id = await baton_user_of(ctx, _team(payload), _slack_user(payload))
    except SlackCallFailed as exc:
        log.warning("could not look up a Slack user", extra={"error": exc.detail})
        await tell(ctx, payload, modals.SLACK_UNREACHABLE)
        return None
    if user_id is None:
        await tell(ctx, payload, LINK_HELP)
    return user_id


# ---------------------------------------------------------------------------------- buttons


async def answer_button(ctx: SlackContext, payload: dict[str, Any]) -> None:
    """Accept / Decline on a readiness notice."""
    action = _action(payload)
    found = blocks.ACTIONS.get(str(action.get("action_id") or ""))
    answer_id = _answer_id(action.get("value"))
    if found is None or answer_id is None:
        await tell(ctx, payload, "That button names no hand-over request or handback proposal.")
        return
    kind, accepts = found
    user_id = await _clicker(ctx, payload)
    if user_id is None:
        return
    try:
        if kind == blocks.HANDBACK and accepts:
            await _accept_handback(ctx, payload, user_id, answer_id)
        else:
            await _open_dialog(ctx, payload, user_id, kind, accepts, answer_id)
    except Refusal as exc:
        await tell(ctx, payload, exc.text)
    except BatonError as exc:
        await tell(ctx, payload, exc.detail)


async def _accept_handback(
    ctx: SlackContext, payload: dict[str, Any], user_id: int, proposal_id: int
) -> None:
    async with ctx.db.transaction() as session:
        principal = await principal_of(session, user_id)
        subject = await _subject(session, blocks.HANDBACK, proposal_id)
        try:
            transition = await readiness.accept_handback(session, principal, proposal_id)
        except BatonError as exc:
            # Out of the transaction, so the refused attempt leaves nothing behind.
            raise Refusal(
                f"Could not accept the handback of {subject.service}: {exc.detail}"
            ) from exc
        decided = f"Handback accepted by {transition.decided_by_name} via Slack."
    await tell(
        ctx,
        payload,
        f"You accepted the handback: {subject.service} is back with {subject.dev_team}, "
        f"and {subject.ops_team} consults.",
    )
    await _mark_decided(ctx, subject, decided)


async def _open_dialog(
    ctx: SlackContext,
    payload: dict[str, Any],
    user_id: int,
    kind: str,
    accepts: bool,
    answer_id: int,
) -> None:
    async with ctx.db.transaction() as session:
        principal = await principal_of(session, user_id)
        subject = await _subject(session, kind, answer_id)
        _require_answerer(principal, subject, "accept" if accepts else "decline")
        policies, preselected = await _policies(session, subject.ops_team_id)
    meta = app_blocks.metadata(
        kind=kind,
        id=answer_id,
        response_url=str(payload.get("response_url") or ""),
        channel_id=str((payload.get("channel") or {}).get("id") or ""),
    )
    if not accepts:
        view = blocks.decline_modal(kind, service=subject.service, meta=meta)
    elif not policies:
        raise Refusal(
            f"There is no escalation policy to move {subject.service} to yet: create one for "
            f"{subject.ops_team} in Baton, then accept again."
        )
    else:
        view = blocks.handover_accept_modal(
            service=subject.service,
            dev_team=subject.dev_team,
            ops_team=subject.ops_team,
            policies=policies,
            preselected=preselected,
            meta=meta,
        )
    if ctx.api is None:
        return
    try:
        await SlackAppApi(ctx.api).open_view(str(payload.get("trigger_id") or ""), view)
    except SlackCallFailed as exc:
        log.warning("could not open a Slack dialog", extra={"error": exc.detail})
        await tell(ctx, payload, "Baton could not open the dialog; please try again.")


# ---------------------------------------------------------------------------------- dialogs


def _errors(block_id: str, text: str) -> dict[str, Any]:
    return {"response_action": "errors", "errors": {block_id: text[:300]}}


def _subject_of(view: dict[str, Any]) -> tuple[str, int] | None:
    meta = app_blocks.read_metadata(view)
    kind = meta.get("kind")
    answer_id = _answer_id(meta.get("id"))
    if kind not in (blocks.HANDOVER, blocks.HANDBACK) or answer_id is None:
        return None
    return str(kind), answer_id


async def view_submission(ctx: SlackContext, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Answer a readiness dialog: None closes it (the outcome goes to the submitter alone),
    ``errors`` keeps it open with the problem under its field."""
    view = payload.get("view") or {}
    accepting = view.get("callback_id") == blocks.VIEW_HANDOVER_ACCEPT
    field = blocks.BLOCK_POLICY if accepting else blocks.BLOCK_REASON
    subject = _subject_of(view)
    if subject is None or (accepting and subject[0] != blocks.HANDOVER):
        return _errors(field, "This dialog lost track of what it answers; click the button again.")
    if accepting and blocks.submitted_policy(view) is None:
        return _errors(field, "Pick the escalation policy the service moves to.")
    if not accepting and not blocks.submitted_text(view, blocks.BLOCK_REASON):
        return _errors(field, "Say why: both teams see the reason.")
    meta = app_blocks.read_metadata(view)
    # Where the outcome goes: the clicked message's response_url, else an ephemeral post.
    where = {
        "response_url": str(meta.get("response_url") or ""),
        "channel": {"id": str(meta.get("channel_id") or "")},
        "user": payload.get("user") or {},
    }

    async def confirm(result: Outcome) -> None:
        await tell(ctx, where, result.text)

    job = _decide(ctx, payload, view, *subject)
    if ctx.work is None:
        result: Outcome | None = await job
    else:
        result = await answer_within(ctx.work, job, confirm, name="slack-readiness")
    if result is None:
        return None  # still working: close the dialog; ``confirm`` tells the outcome later
    if not result.ok and result.block_id is not None:
        return _errors(result.block_id, result.text)
    if ctx.work is None:
        await confirm(result)
    else:  # the dialog closes now; the answer need not hold up Slack's
        ctx.work.spawn(confirm(result), name="slack-readiness-confirm")
    return None


async def _decide(
    ctx: SlackContext, payload: dict[str, Any], view: dict[str, Any], kind: str, answer_id: int
) -> Outcome:
    """Check the submitter is linked, then act; every problem becomes a failed Outcome."""
    try:
        user_id = await baton_user_of(ctx, _team(payload), _slack_user(payload))
        if user_id is None:
            return Outcome(False, LINK_HELP)
        if view.get("callback_id") == blocks.VIEW_HANDOVER_ACCEPT:
            return await _accept_handover(ctx, view, user_id, answer_id)
        return await _decline(ctx, view, user_id, kind, answer_id)
    except Refusal as exc:
        return Outcome(False, exc.text)
    except SlackCallFailed as exc:
        log.warning("a Slack call failed during a readiness dialog", extra={"error": exc.detail})
        return Outcome(False, modals.SLACK_UNREACHABLE)
    except Exception:
        # Slack shows a generic failure for a 500; say something useful instead.
        log.exception("Slack readiness dialog failed")
        return Outcome(False, GONE_WRONG)


async def _accept_handover(
    ctx: SlackContext, view: dict[str, Any], user_id: int, request_id: int
) -> Outcome:
    policy_id = blocks.submitted_policy(view)
    assert policy_id is not None  # checked before
    subject: Subject | None = None
    principal: Principal | None = None
    try:
        async with ctx.db.transaction() as session:
            principal = await principal_of(session, user_id)
            subject = await _subject(session, blocks.HANDOVER, request_id)
            transition = await readiness.accept_handover(
                session,
                principal,
                request_id,
                escalation_policy_id=policy_id,
                keep_developers=blocks.submitted_keep_developers(view),
                override_reason=blocks.submitted_text(view, blocks.BLOCK_OVERRIDE),
            )
            policy = await session.get(EscalationPolicy, transition.to_policy_id)
            policy_name = policy.name if policy is not None else "its new policy"
            decided = (
                f"Accepted by {transition.decided_by_name} via Slack: {subject.ops_team} now "
                f"supports {subject.service}; new incidents escalate by {policy_name}."
            )
    except InvalidInput as exc:
        return Outcome(False, exc.detail, block_id=blocks.BLOCK_POLICY)
    except BatonError as exc:
        name = subject.service if subject is not None else f"request {request_id}"
        text = f"Could not accept the hand-over of {name}: {exc.detail}"
        if exc.extra.get("failing_items") and principal is not None and principal.is_admin:
            text += " As an admin you may accept anyway with an override reason."
        return Outcome(False, text)
    assert subject is not None
    await _mark_decided(ctx, subject, decided)
    return Outcome(
        True,
        f"You accepted the hand-over: {subject.ops_team} now supports {subject.service}, and "
        f"new incidents escalate by {policy_name}.",
    )


async def _decline(
    ctx: SlackContext, view: dict[str, Any], user_id: int, kind: str, answer_id: int
) -> Outcome:
    reason = blocks.submitted_text(view, blocks.BLOCK_REASON)
    subject: Subject | None = None
    try:
        async with ctx.db.transaction() as session:
            principal = await principal_of(session, user_id)
            subject = await _subject(session, kind, answer_id)
            if kind == blocks.HANDOVER:
                await readiness.decline_handover(session, principal, answer_id, reason=reason)
            else:
                await readiness.decline_handback(session, principal, answer_id, reason=reason)
            by = await _user_name(session, user_id)
    except InvalidInput as exc:
        return Outcome(False, exc.detail, block_id=blocks.BLOCK_REASON)
    except BatonError as exc:
        name = subject.service if subject is not None else f"{blocks.what(kind)} {answer_id}"
        return Outcome(False, f"Could not decline the {blocks.what(kind)} of {name}: {exc.detail}")
    assert subject is not None
    await _mark_decided(ctx, subject, f"Declined by {by} via Slack: {reason}")
    return Outcome(
        True, f"You declined the {subject.what} of {subject.service}; both teams see your reason."
    )


# --------------------------------------------------------------------------- the posted copies


async def _mark_decided(ctx: SlackContext, subject: Subject, decided: str) -> None:
    """Redraw every posted copy of the notice without its buttons, saying who decided."""
    if ctx.api is None:
        return
    async with ctx.db.transaction() as session:
        rows = await session.scalars(
            select(Notification)
            .where(
                Notification.contact_type == ContactType.SLACK,
                Notification.provider_message_id.is_not(None),
                Notification.created_at >= subject.opened_at,
                Notification.context["event"].as_string() == EVENT,
            )
            .order_by(Notification.id)
            .limit(MAX_POSTED_COPIES * 4)
        )
        posted: dict[tuple[str, str], Notice] = {}
        for row in rows:
            notice = blocks.notice_of(row.context)
            ref = parse_message_ref(row.provider_message_id)
            answered = notice is not None and notice.answer == (subject.kind, subject.id)
            if answered and notice is not None and ref is not None:
                posted.setdefault(ref, notice)
    for (channel, ts), notice in list(posted.items())[:MAX_POSTED_COPIES]:
        try:
            await ctx.api.update(
                channel,
                ts,
                f"{blocks.notice_fallback(notice)} ({decided})",
                blocks.notice_blocks(notice, ctx.public_url, decided=decided),
            )
        except SlackCallFailed as exc:
            log.warning("could not redraw a readiness notice", extra={"error": exc.detail})


def register_interactions() -> None:
    """Hand the readiness buttons and dialogs to the interactivity endpoint (again is
    harmless). Called at start-up by ``app.wiring.wire``."""
    for action_id in blocks.ACTIONS:
        interactions.register_button(action_id, answer_button)
    modals.register_view(blocks.VIEW_HANDOVER_ACCEPT, view_submission)
    modals.register_view(blocks.VIEW_DECLINE, view_submission)
