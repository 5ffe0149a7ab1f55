"""Launch requirements, hand-over to Ops and handback to Dev (docs/readiness.md).

Each operation runs inside the caller's transaction and never commits; notices to both teams
are outbox rows written in the same transaction (sent after commit by the dispatcher).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.alerts.models import Alert
from app.catalog import changes as service_changes
from app.catalog.models import Service, SupportModel
from app.core.auth import Principal, TeamRole
from app.core.db import session_clock
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.deploys.models import Deployment
from app.escalation.models import EscalationPolicy, EscalationStep, EscalationTarget, TargetKind
from app.incidents.models import Incident, Page, Urgency
from app.notify.base import MessageKind
from app.notify.models import Notification, NotificationStatus
from app.notify.outbox import wake_dispatcher_after_commit
from app.people.models import ContactType, Team, TeamKind, TeamMembership, User
from app.readiness import checklist, schemas
from app.readiness import text as notices
from app.readiness.checklist import HandbackThresholds, Item, ItemKind
from app.readiness.models import (
    Direction,
    Evaluation,
    HandbackProposal,
    HandoverRequest,
    ReadinessSettings,
    RequestState,
    SignOff,
    TeamReadinessItems,
    Transition,
    Trigger,
)
from app.review import metrics_queries
from app.review import service as reviews
from app.schedules import repository as schedule_repository
from app.schedules.oncall import gaps

log = logging.getLogger(__name__)

SETTINGS_ROW = 1
HISTORY_LIMIT = 90


# --------------------------------------------------------------------------------- the checklist


def items_from_json(rows: Iterable[Mapping[str, Any]], field: str) -> list[Item]:
    try:
        parsed = [schemas.ItemIn.model_validate(row) for row in rows]
    except ValidationError as error:
        raise InvalidInput(f"{field}: {error.errors()[0]['msg']}", field=field) from error
    return [row.to_item() for row in parsed]


async def _settings(session: AsyncSession) -> ReadinessSettings | None:
    return await session.get(ReadinessSettings, SETTINGS_ROW)


async def organisation_items(session: AsyncSession) -> tuple[Item, ...]:
    row = await _settings(session)
    if row is None or row.items is None:
        return checklist.DEFAULT_ITEMS
    return tuple(items_from_json(row.items, "items"))


async def team_additions(session: AsyncSession, team_id: int) -> tuple[Item, ...]:
    row = await session.get(TeamReadinessItems, team_id)
    return tuple(items_from_json(row.items, "items")) if row is not None else ()


async def checklist_of_team(session: AsyncSession, team_id: int) -> tuple[Item, ...]:
    return checklist.merge(
        await organisation_items(session), await team_additions(session, team_id)
    )


async def thresholds(session: AsyncSession) -> HandbackThresholds:
    row = await _settings(session)
    return HandbackThresholds().with_values(row.thresholds if row is not None else {})


def _refuse(found: list[str], field: str) -> None:
    if found:
        raise InvalidInput("; ".join(found), field=field, problems=found)


async def set_organisation_items(
    session: AsyncSession, principal: Principal, items: Sequence[Item] | None
) -> tuple[Item, ...]:
    """Replace the organisation's checklist (None: back to Baton's default); every team's
    checklist with it must still sum to 100."""
    principal.require_admin()
    chosen = tuple(items) if items is not None else checklist.DEFAULT_ITEMS
    _refuse(checklist.problems(chosen), "body.items")
    for row in await session.scalars(select(TeamReadinessItems)):
        team_items = items_from_json(row.items, "items")
        found = checklist.problems(checklist.merge(chosen, team_items))
        if found:
            team = await session.get(Team, row.team_id)
            name = team.name if team else row.team_id
            _refuse([f"team {name}: {p}" for p in found], "body.items")
    row = await _settings(session)
    now = session_clock(session).now()
    stored = None if items is None else [schemas.ItemIn.from_item(i).model_dump() for i in chosen]
    if row is None:
        session.add(ReadinessSettings(id=SETTINGS_ROW, items=stored, thresholds={}, updated_at=now))
    else:
        row.items = stored
        row.updated_at = now
    await session.flush()
    return chosen


async def set_team_additions(
    session: AsyncSession, principal: Principal, team_id: int, items: Sequence[Item]
) -> tuple[Item, ...]:
    """Replace a team's additions; the merged checklist must sum to 100."""
    team = await session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} not found")
    principal.require_team_manager(team_id)
    _refuse(checklist.problems(items, whole=False), "body.items")
    merged = checklist.merge(await organisation_items(session), items)
    _refuse(checklist.problems(merged), "body.items")
    now = session_clock(session).now()
    row = await session.get(TeamReadinessItems, team_id)
    stored = [schemas.ItemIn.from_item(i).model_dump() for i in items]
    if not items:
        if row is not None:
            await session.delete(row)
    elif row is None:
        session.add(TeamReadinessItems(team_id=team_id, items=stored, updated_at=now))
    else:
        row.items = stored
        row.updated_at = now
    await session.flush()
    return merged


async def set_thresholds(
    session: AsyncSession, principal: Principal, data: schemas.ThresholdsIn
) -> HandbackThresholds:
    principal.require_admin()
    values = data.model_dump(exclude_unset=True)
    row = await _settings(session)
    now = session_clock(session).now()
    if row is None:
        session.add(
            ReadinessSettings(id=SETTINGS_ROW, items=None, thresholds=values, updated_at=now)
        )
    else:
        row.thresholds = {**(row.thresholds or {}), **values}
        row.updated_at = now
    await session.flush()
    return await thresholds(session)


# ------------------------------------------------------------------------------------ the facts


async def _service(session: AsyncSession, service_id: int, *, lock: bool = False) -> Service:
    stmt = select(Service).where(Service.id == service_id)
    if lock:
        stmt = stmt.with_for_update()
    service = await session.scalar(stmt)
    if service is None:
        raise NotFound(f"service {service_id} not found")
    return service


def team_zone(team: Team | None) -> ZoneInfo:
    """The team's clock (UTC without a team or with a zone the tz data no longer knows)."""
    try:
        return ZoneInfo(team.time_zone if team is not None and team.time_zone else "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


async def _policy(session: AsyncSession, policy_id: int | None) -> EscalationPolicy | None:
    if policy_id is None:
        return None
    return await session.scalar(
        select(EscalationPolicy)
        .where(EscalationPolicy.id == policy_id)
        .options(selectinload(EscalationPolicy.steps).selectinload(EscalationStep.targets))
    )


def _paging_steps(policy: EscalationPolicy | None) -> list[EscalationStep]:
    if policy is None:
        return []
    return [s for s in sorted(policy.steps, key=lambda s: s.position) if s.targets]


@dataclass(frozen=True, slots=True)
class PagerLoad:
    pages: int
    shifts: float
    sleep_pages: int


async def pager_load(
    session: AsyncSession, service: Service, since: datetime, until: datetime
) -> PagerLoad:
    """High-urgency incidents of the service that paged a responder, counted at their first
    page; shifts are the 12-hour stretches of the window the service existed for; a sleep-hour
    page is one whose first page reached its responder between 22:00 and 09:00 on their clock."""
    start = max(since, service.created_at.astimezone(UTC))
    shifts = max((until - start) / timedelta(hours=checklist.SHIFT_HOURS), 0.0)
    rows = (
        await session.execute(
            select(Page.incident_id, Page.paged_at, User.time_zone)
            .join(Incident, Incident.id == Page.incident_id)
            .join(User, User.id == Page.user_id)
            .where(
                Incident.service_id == service.id,
                Page.shadow.is_(False),
                Page.urgency == Urgency.HIGH,
                Page.paged_at >= since,
                Page.paged_at < until,
            )
            .order_by(Page.paged_at, Page.id)
        )
    ).all()
    first: dict[int, tuple[datetime, str]] = {}
    for incident_id, paged_at, zone in rows:
        first.setdefault(incident_id, (paged_at, zone or "UTC"))
    sleep = sum(checklist.sleep_hour(at, zone) for at, zone in first.values())
    return PagerLoad(pages=len(first), shifts=shifts, sleep_pages=sleep)


async def overdue_items(session: AsyncSession, service: Service, today: date) -> int:
    return len(await reviews.overdue_items(session, today, service_id=service.id))


async def _sign_offs(session: AsyncSession, service_id: int) -> dict[str, checklist.SignOff]:
    rows = await session.scalars(select(SignOff).where(SignOff.service_id == service_id))
    return {r.item_key: checklist.SignOff(r.signed_by_name, r.signed_on, r.comment) for r in rows}


def _find(items: Sequence[Item], check: str) -> Item | None:
    return next((i for i in items if i.kind is ItemKind.AUTOMATIC and i.check_name == check), None)


def _days(items: Sequence[Item], check: str) -> int:
    item = _find(items, check)
    return (
        int(item.param("days"))
        if item is not None
        else int(checklist.AUTOMATIC_CHECKS[check]["days"])
    )


async def gather(
    session: AsyncSession, service: Service, items: Sequence[Item], now: datetime
) -> checklist.ServiceFacts:
    """What the checklist's automatic items are judged on, over each item's own window."""
    team = await session.get(Team, service.team_id)
    members = list(
        await session.scalars(
            select(TeamMembership.user_id).where(TeamMembership.team_id == service.team_id)
        )
    )
    policy = await _policy(session, service.escalation_policy_id)
    steps = _paging_steps(policy)
    schedule_ids = list(
        dict.fromkeys(
            t.schedule_id
            for s in steps
            for t in s.targets
            if t.kind is TargetKind.SCHEDULE and t.schedule_id is not None
        )
    )
    loaded = await schedule_repository.loaded_schedules(session, schedule_ids)
    horizon = now + timedelta(days=_days(items, "schedule_coverage"))
    uncovered: dict[str, float] = {}
    on_rotation: set[int] = set()
    for entry in loaded.values():
        holes = gaps(entry.compiled, now, horizon)
        uncovered[entry.name] = sum((high - low).total_seconds() / 60 for low, high in holes)
        for layer in entry.compiled.spec.layers:
            on_rotation |= set(layer.participants)
    developers = on_rotation & set(members)
    names = (
        dict(
            (
                await session.execute(
                    select(User.id, User.name).where(User.id.in_(developers)).order_by(User.name)
                )
            ).all()
        )
        if developers
        else {}
    )
    alerts = await session.scalar(
        select(func.count(Alert.id)).where(
            Alert.service_id == service.id,
            Alert.integration_id.is_not(None),
            Alert.first_seen_at >= now - timedelta(days=_days(items, "integration_alerts")),
        )
    )
    deploys = await session.scalar(
        select(func.count(Deployment.id)).where(
            Deployment.service_id == service.id,
            Deployment.started_at >= now - timedelta(days=_days(items, "deploy_events")),
        )
    )
    load = await pager_load(session, service, now - timedelta(days=_days(items, "pager_load")), now)
    today = now.astimezone(team_zone(team)).date()
    owed = await reviews.owed_reviews(session, now=now, service_id=service.id)
    failure_days = _days(items, "change_failure_rate")
    report = await metrics_queries.service_report(
        session, service.id, now - timedelta(days=failure_days), now
    )
    dev_since = None
    if service.support_model is SupportModel.DEV:
        dev_since = (service.support_since or service.created_at).astimezone(UTC)
    return checklist.ServiceFacts(
        now=now,
        support_model=service.support_model.value,
        owner_team=team.name if team is not None else None,
        owner_team_members=len(members),
        runbook_url=service.runbook_url,
        policy=policy.name if policy is not None else None,
        policy_steps=len(steps),
        schedules=tuple(sorted(e.name for e in loaded.values())),
        uncovered_minutes=uncovered,
        developers_on_rotation=tuple(names.values()),
        alerts_via_integration=int(alerts or 0),
        deploys_reported=int(deploys or 0),
        dev_since=dev_since,
        pages=load.pages,
        shifts=load.shifts,
        reviews_owed=len(owed),
        overdue_items=await overdue_items(session, service, today),
        deploys_in_failure_window=report.dora.deployments,
        change_failure_rate=report.dora.change_failure_rate,
        change_failure_rate_band=report.dora.change_failure_rate_band,
        sign_offs=await _sign_offs(session, service.id),
    )


async def evaluate(
    session: AsyncSession, service: Service, now: datetime | None = None
) -> checklist.Evaluation:
    """The service's checklist judged now (nothing stored)."""
    now = now or session_clock(session).now()
    items = await checklist_of_team(session, service.team_id)
    return checklist.evaluate(items, await gather(session, service, items, now))


def _store(
    session: AsyncSession,
    service: Service,
    evaluation: checklist.Evaluation,
    trigger: Trigger,
    now: datetime,
) -> Evaluation:
    row = Evaluation(
        service_id=service.id,
        evaluated_at=now,
        trigger=trigger,
        support_model=service.support_model.value,
        score=evaluation.score,
        band=evaluation.band.value,
        results=[r.to_json() for r in evaluation.results],
    )
    session.add(row)
    return row


async def evaluate_and_store(
    session: AsyncSession, principal: Principal, service_id: int
) -> Evaluation:
    """Evaluate now and keep the evaluation in the service's history."""
    principal.require_write()
    service = await _service(session, service_id)
    now = session_clock(session).now()
    row = _store(session, service, await evaluate(session, service, now), Trigger.ON_DEMAND, now)
    await session.flush()
    return row


async def history(
    session: AsyncSession, service_id: int, limit: int = HISTORY_LIMIT
) -> list[Evaluation]:
    """The service's stored evaluations, newest first."""
    rows = await session.scalars(
        select(Evaluation)
        .where(Evaluation.service_id == service_id)
        .order_by(Evaluation.evaluated_at.desc(), Evaluation.id.desc())
        .limit(limit)
    )
    return list(rows)


# ------------------------------------------------------------------------------------ sign-offs


async def _member_of(session: AsyncSession, user_id: int, team_ids: Iterable[int]) -> bool:
    wanted = [t for t in team_ids if t is not None]
    if not wanted:
        return False
    found = await session.scalar(
        select(TeamMembership.user_id).where(
            TeamMembership.user_id == user_id, TeamMembership.team_id.in_(wanted)
        )
    )
    return found is not None


async def _ops_team_ids(session: AsyncSession, service: Service) -> list[int]:
    """The Ops team named on the service, or without one every Ops team."""
    if service.ops_team_id is not None:
        return [service.ops_team_id]
    return list(await session.scalars(select(Team.id).where(Team.kind == TeamKind.OPS)))


async def may_sign_off(session: AsyncSession, service: Service, user_id: int) -> bool:
    """Whether ``user_id`` is in the owner team or the service's Ops team (without one: any)."""
    return await _member_of(
        session, user_id, [service.team_id, *await _ops_team_ids(session, service)]
    )


async def sign_off(
    session: AsyncSession,
    principal: Principal,
    service_id: int,
    item_key: str,
    *,
    comment: str,
    signed_on: date | None = None,
    signer_id: int | None = None,
) -> SignOff:
    """``signer_id`` (admins only; default: the caller) signs off ``item_key``: they must be in
    the owner team or the Ops team."""
    principal.require_write()
    signer_id = signer_id if signer_id is not None else principal.user_id
    if signer_id != principal.user_id and not principal.is_admin:
        raise Forbidden("only admins can record a sign-off in someone else's name")
    service = await _service(session, service_id)
    items = await checklist_of_team(session, service.team_id)
    item = next((i for i in items if i.key == item_key), None)
    if item is None or item.kind is not ItemKind.SIGN_OFF:
        signable = [i.key for i in items if i.kind is ItemKind.SIGN_OFF]
        raise InvalidInput(
            f"{item_key!r} is not a sign-off item of this service's checklist "
            f"(sign-off items: {', '.join(signable)})",
            field="path.item_key",
        )
    signer = await session.get(User, signer_id)
    if signer is None:
        raise InvalidInput(f"user {signer_id} does not exist", field="body.signed_by_id")
    if not await may_sign_off(session, service, signer_id):
        raise Forbidden(
            f"{signer.name} is in neither the owner team nor the Ops team, so cannot sign off "
            f"{item.title!r}"
        )
    now = session_clock(session).now()
    row = await session.scalar(
        select(SignOff).where(SignOff.service_id == service_id, SignOff.item_key == item_key)
    )
    if row is None:
        row = SignOff(service_id=service_id, item_key=item_key, created_at=now)
        session.add(row)
    row.signed_by_id = signer.id
    row.signed_by_name = signer.name
    row.signed_on = signed_on or now.date()
    row.comment = comment
    row.created_at = now
    await session.flush()
    return row


async def withdraw_sign_off(
    session: AsyncSession, principal: Principal, service_id: int, item_key: str
) -> None:
    principal.require_write()
    service = await _service(session, service_id)
    row = await session.scalar(
        select(SignOff).where(SignOff.service_id == service_id, SignOff.item_key == item_key)
    )
    if row is None:
        raise NotFound(f"no sign-off of {item_key!r} for {service.name}")
    allowed = principal.is_admin or row.signed_by_id == principal.user_id
    if not allowed and not await _member_of(session, principal.user_id, [service.team_id]):
        raise Forbidden("only the signer, the owner team or admins can withdraw a sign-off")
    await session.delete(row)
    await session.flush()


async def sign_offs_of(session: AsyncSession, service_id: int) -> list[SignOff]:
    rows = await session.scalars(
        select(SignOff).where(SignOff.service_id == service_id).order_by(SignOff.item_key)
    )
    return list(rows)


# ------------------------------------------------------------------------------- telling teams


async def _team_targets(session: AsyncSession, team: Team) -> list[tuple[ContactType, str]]:
    targets: list[tuple[ContactType, str]] = []
    channel = team.slack_channel or team.digest_slack_channel
    if channel:
        targets.append((ContactType.SLACK, channel))
    managers = await session.scalars(
        select(User.email)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .where(TeamMembership.team_id == team.id, TeamMembership.role == TeamRole.MANAGER)
        .order_by(User.id)
    )
    targets += [(ContactType.EMAIL, address) for address in managers if address]
    return targets


async def _tell(
    session: AsyncSession, notice: notices.Notice, teams: Sequence[Team | None], now: datetime
) -> int:
    """Queue the notice to each team's channel and managers; returns how many rows."""
    targets: list[tuple[ContactType, str]] = []
    for team in teams:
        if team is None:
            continue
        for target in await _team_targets(session, team):
            if target not in targets:
                targets.append(target)
    context = {"event": notices.EVENT, "path": notice.path, "notice": notice.to_json()}
    for contact_type, address in targets:
        session.add(
            Notification(
                kind=MessageKind.INFO,
                contact_type=contact_type,
                address=address,
                subject=notice.subject()[:1024],
                body=notice.body(),
                context=dict(context),
                status=NotificationStatus.PENDING,
                due_at=now,
                created_at=now,
            )
        )
    if targets:
        wake_dispatcher_after_commit(session)
    return len(targets)


async def _teams(
    session: AsyncSession, service: Service, ops_team_id: int | None
) -> tuple[Team | None, Team | None]:
    dev = await session.get(Team, service.team_id)
    ops = await session.get(Team, ops_team_id) if ops_team_id is not None else None
    return dev, ops


def _name(team: Team | None) -> str:
    return team.name if team is not None else "no team"


def _answer(
    answered: HandoverRequest | HandbackProposal,
    state: RequestState,
    *,
    by: int | None,
    at: datetime,
    reason: str = "",
) -> None:
    """Record the answer to a request or proposal: what, who (None: Baton), when, why."""
    answered.state = state
    answered.decided_by_id = by
    answered.decided_at = at
    answered.reason = reason


def _notice(
    kind: str,
    service: Service,
    dev: Team | None,
    ops: Team | None,
    headline: str,
    lines: tuple[str, ...] = (),
    **extra: object,
) -> notices.Notice:
    return notices.Notice(
        kind=kind,
        service_id=service.id,
        service=service.name,
        dev_team=_name(dev),
        ops_team=_name(ops),
        headline=headline,
        lines=lines,
        **extra,  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------------------- the hand-over


async def open_handover(session: AsyncSession, service_id: int) -> HandoverRequest | None:
    return await session.scalar(
        select(HandoverRequest).where(
            HandoverRequest.service_id == service_id, HandoverRequest.state == RequestState.OPEN
        )
    )


async def request_handover(
    session: AsyncSession,
    principal: Principal,
    service_id: int,
    *,
    ops_team_id: int | None,
    note: str = "",
) -> HandoverRequest:
    """The owner team asks an Ops team to take the service on."""
    service = await _service(session, service_id, lock=True)
    principal.require_team_write(service.team_id, "this service's support")
    if service.support_model is SupportModel.OPS:
        raise Conflict(f"{service.name} is already supported by Ops")
    ops_team_id = ops_team_id if ops_team_id is not None else service.ops_team_id
    if ops_team_id is None:
        raise InvalidInput("name the Ops team to hand over to", field="body.ops_team_id")
    ops = await session.get(Team, ops_team_id)
    if ops is None:
        raise InvalidInput(f"team {ops_team_id} does not exist", field="body.ops_team_id")
    if ops.kind is not TeamKind.OPS:
        raise InvalidInput(f"team {ops.name} is not an Ops team", field="body.ops_team_id")
    if await open_handover(session, service_id) is not None:
        raise Conflict(f"{service.name} already has an open hand-over request")
    now = session_clock(session).now()
    request = HandoverRequest(
        service_id=service.id,
        ops_team_id=ops.id,
        requested_by_id=principal.user_id,
        requested_at=now,
        note=note,
        state=RequestState.OPEN,
    )
    session.add(request)
    service.ops_team_id = ops.id
    await session.flush()
    evaluation = await evaluate(session, service, now)
    _store(session, service, evaluation, Trigger.HANDOVER, now)
    dev = await session.get(Team, service.team_id)
    failing = [r.to_json() for r in evaluation.failing_required]
    await _tell(
        session,
        _notice(
            notices.Kind.HANDOVER_REQUESTED,
            service,
            dev,
            ops,
            headline=(
                f"{_name(dev)} asks {ops.name} to take on {service.name} "
                f"(readiness {evaluation.score}/100, {evaluation.band.value.replace('_', ' ')})"
            ),
            lines=(
                *((f"Note: {note}",) if note else ()),
                *(
                    notices.evidence_lines(failing, only_failing=True)
                    or ("Every required item passes.",)
                ),
            ),
            answer=("handover", request.id),
            score=evaluation.score,
            band=evaluation.band.value,
        ),
        [dev, ops],
        now,
    )
    return request


async def _request(session: AsyncSession, request_id: int) -> tuple[HandoverRequest, Service]:
    """The request and its service, both locked (the service first, as every change of support
    takes them): an accept and a decline arriving together are answered in turn, and the second
    sees what the first decided."""
    service_id = await session.scalar(
        select(HandoverRequest.service_id).where(HandoverRequest.id == request_id)
    )
    if service_id is None:
        raise NotFound(f"hand-over request {request_id} not found")
    service = await _service(session, service_id, lock=True)
    request = await session.scalar(
        select(HandoverRequest)
        .where(HandoverRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if request is None:  # deleted between the two reads
        raise NotFound(f"hand-over request {request_id} not found")
    return request, service


def answers_for_ops(principal: Principal, ops_team_id: int | None) -> bool:
    """Whether the principal may answer a hand-over or handback for this Ops team."""
    if not principal.can_write:
        return False
    return principal.is_admin or (ops_team_id is not None and ops_team_id in principal.team_ids)


async def _require_ops(
    session: AsyncSession, principal: Principal, team_id: int | None, what: str
) -> None:
    principal.require_write()
    if not answers_for_ops(principal, team_id):
        team = await session.get(Team, team_id) if team_id is not None else None
        raise Forbidden(f"only members of the Ops team ({_name(team)}) or admins can {what}")


async def _combined_policy(
    session: AsyncSession,
    service: Service,
    ops_policy: EscalationPolicy,
    dev_policy: EscalationPolicy | None,
) -> EscalationPolicy:
    """A copy of Ops's policy with the developers' first step as its last: the developers stay
    reachable if Ops does not answer."""
    dev_steps = _paging_steps(dev_policy)
    base = f"{service.name}: {ops_policy.name}, then developers"[:190]
    name, n = base, 1
    while await session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == name)):
        n += 1
        name = f"{base} ({n})"
    policy = EscalationPolicy(
        name=name,
        team_id=ops_policy.team_id,
        description=f"Made by the hand-over of {service.name}: {ops_policy.name}'s steps, then "
        "the developers' first step.",
        repeat=ops_policy.repeat,
    )
    session.add(policy)
    await session.flush()
    steps = sorted(ops_policy.steps, key=lambda s: s.position)
    copies = [(s.delay_minutes, s.targets) for s in steps]
    if dev_steps:
        copies.append((dev_steps[0].delay_minutes, dev_steps[0].targets))
    for position, (delay, targets) in enumerate(copies):
        step = EscalationStep(policy_id=policy.id, position=position, delay_minutes=delay)
        session.add(step)
        await session.flush()
        for target in targets:
            session.add(
                EscalationTarget(
                    step_id=step.id,
                    kind=target.kind,
                    user_id=target.user_id,
                    schedule_id=target.schedule_id,
                    address=target.address,
                )
            )
    await session.flush()
    return policy


async def accept_handover(
    session: AsyncSession,
    principal: Principal,
    request_id: int,
    *,
    escalation_policy_id: int,
    keep_developers: bool = False,
    override_reason: str = "",
) -> Transition:
    """Ops takes the service on, in one transaction: 409 while a required item fails (an admin
    may override with a reason)."""
    request, service = await _request(session, request_id)
    if request.state is not RequestState.OPEN:
        raise Conflict(f"hand-over request {request_id} is {request.state.value}")
    await _require_ops(session, principal, request.ops_team_id, "accept a hand-over")
    if service.support_model is SupportModel.OPS:
        raise Conflict(f"{service.name} is already supported by Ops")
    ops_policy = await _policy(session, escalation_policy_id)
    if ops_policy is None:
        raise InvalidInput(
            f"escalation policy {escalation_policy_id} does not exist",
            field="body.escalation_policy_id",
        )
    now = session_clock(session).now()
    evaluation = await evaluate(session, service, now)
    failing = evaluation.failing_required
    if failing and not override_reason:
        raise Conflict(
            "required items fail: " + "; ".join(f"{r.title} ({r.evidence})" for r in failing),
            failing_items=[r.key for r in failing],
        )
    if failing and not principal.is_admin:
        raise Forbidden("only admins can accept a hand-over while required items fail")
    dev_policy = await _policy(session, service.escalation_policy_id)
    new_policy = (
        await _combined_policy(session, service, ops_policy, dev_policy)
        if keep_developers
        else ops_policy
    )
    transition = Transition(
        service_id=service.id,
        direction=Direction.HANDOVER,
        from_support=service.support_model.value,
        to_support=SupportModel.OPS.value,
        from_policy_id=service.escalation_policy_id,
        to_policy_id=new_policy.id,
        ops_team_id=request.ops_team_id,
        decided_by_id=principal.user_id,
        decided_by_name=await _user_name(session, principal.user_id),
        decided_at=now,
        reason=override_reason,
        overridden=bool(failing),
        score=evaluation.score,
        evidence=[r.to_json() for r in evaluation.results],
        handover_request_id=request.id,
    )
    session.add(transition)
    service.developer_policy_id = service.escalation_policy_id
    service.escalation_policy_id = new_policy.id
    service.support_model = SupportModel.OPS
    service.support_since = now
    service.ops_team_id = request.ops_team_id
    _answer(request, RequestState.ACCEPTED, by=principal.user_id, at=now, reason=override_reason)
    request.overridden = bool(failing)
    _store(session, service, evaluation, Trigger.HANDOVER, now)
    await session.flush()
    service_changes.after_commit(session, service.id)
    dev, ops = await _teams(session, service, request.ops_team_id)
    await _tell(
        session,
        _notice(
            notices.Kind.HANDOVER_ACCEPTED,
            service,
            dev,
            ops,
            headline=f"{_name(ops)} now supports {service.name}",
            lines=(
                f"Accepted by {transition.decided_by_name} at readiness {evaluation.score}/100.",
                f"New incidents escalate by {new_policy.name}.",
                *(
                    (f"Overridden while required items failed: {override_reason}",)
                    if failing
                    else ()
                ),
            ),
            score=evaluation.score,
            band=evaluation.band.value,
        ),
        [dev, ops],
        now,
    )
    return transition


async def decline_handover(
    session: AsyncSession, principal: Principal, request_id: int, *, reason: str
) -> HandoverRequest:
    request, service = await _request(session, request_id)
    if request.state is not RequestState.OPEN:
        raise Conflict(f"hand-over request {request_id} is {request.state.value}")
    await _require_ops(session, principal, request.ops_team_id, "decline a hand-over")
    if not reason.strip():
        raise InvalidInput("say why the hand-over is declined", field="body.reason")
    now = session_clock(session).now()
    _answer(request, RequestState.DECLINED, by=principal.user_id, at=now, reason=reason)
    dev, ops = await _teams(session, service, request.ops_team_id)
    await _tell(
        session,
        _notice(
            notices.Kind.HANDOVER_DECLINED,
            service,
            dev,
            ops,
            headline=f"{_name(ops)} declined to take on {service.name}",
            lines=(f"{await _user_name(session, principal.user_id)}: {reason}",),
        ),
        [dev, ops],
        now,
    )
    await session.flush()
    return request


async def withdraw_handover(
    session: AsyncSession, principal: Principal, request_id: int
) -> HandoverRequest:
    request, service = await _request(session, request_id)
    principal.require_team_write(service.team_id, "this service's support")
    if request.state is not RequestState.OPEN:
        raise Conflict(f"hand-over request {request_id} is {request.state.value}")
    _answer(request, RequestState.WITHDRAWN, by=principal.user_id, at=session_clock(session).now())
    await session.flush()
    return request


async def _user_name(session: AsyncSession, user_id: int | None) -> str:
    if user_id is None:
        return "Baton"
    user = await session.get(User, user_id)
    return user.name if user is not None else f"user {user_id}"


# -------------------------------------------------------------------------------- the handback


async def open_proposal(session: AsyncSession, service_id: int) -> HandbackProposal | None:
    return await session.scalar(
        select(HandbackProposal).where(
            HandbackProposal.service_id == service_id,
            HandbackProposal.state == RequestState.OPEN,
        )
    )


async def load_facts(
    session: AsyncSession, service: Service, now: datetime, limits: HandbackThresholds
) -> checklist.LoadFacts:
    """An Ops service's trailing window (only the time Ops has supported it) for the handback
    criteria, and the window before it for MTTR."""
    window = timedelta(days=limits.window_days)
    since = now - window
    supported_since = (service.support_since or service.created_at).astimezone(UTC)
    load = await pager_load(session, service, max(since, supported_since), now)
    current = await metrics_queries.service_report(session, service.id, since, now)
    before = await metrics_queries.service_report(session, service.id, since - window, since)
    team = await session.get(Team, service.team_id)
    return checklist.LoadFacts(
        since=since,
        until=now,
        pages=load.pages,
        shifts=load.shifts,
        sleep_pages=load.sleep_pages,
        mttr_seconds=current.incidents.mttr.mean,
        resolved=current.incidents.mttr.count,
        mttr_before_seconds=before.incidents.mttr.mean,
        resolved_before=before.incidents.mttr.count,
        deploys=current.dora.deployments,
        change_failure_rate=current.dora.change_failure_rate,
        change_failure_rate_band=current.dora.change_failure_rate_band,
        overdue_items=await overdue_items(session, service, now.astimezone(team_zone(team)).date()),
    )


async def propose_handback(
    session: AsyncSession, service: Service, now: datetime, limits: HandbackThresholds
) -> HandbackProposal | None:
    """Judge an Ops service's window; a breach opens a proposal (unless one is open) and tells
    both teams. Returns the new proposal."""
    if service.support_model is not SupportModel.OPS:
        return None
    if await open_proposal(session, service.id) is not None:
        return None
    # Ops declined one lately: the same window would say the same thing again tomorrow. Ask
    # again once a whole window has passed since the answer.
    declined_lately = await session.scalar(
        select(HandbackProposal.id).where(
            HandbackProposal.service_id == service.id,
            HandbackProposal.state == RequestState.DECLINED,
            HandbackProposal.decided_at > now - timedelta(days=limits.window_days),
        )
    )
    if declined_lately is not None:
        return None
    facts = await load_facts(session, service, now, limits)
    found = checklist.breaches(facts, limits)
    if not found:
        return None
    proposal = HandbackProposal(
        service_id=service.id,
        created_at=now,
        window_since=facts.since,
        window_until=facts.until,
        breaches=[b.to_json() for b in found],
        state=RequestState.OPEN,
        due_at=now + timedelta(days=limits.grace_days) if service.handback_on_silence else None,
    )
    session.add(proposal)
    await session.flush()
    dev, ops = await _teams(session, service, service.ops_team_id)
    silence = (
        f"Unanswered, it takes effect on {proposal.due_at.date().isoformat()}."
        if proposal.due_at is not None
        else "It waits for Ops's answer."
    )
    await _tell(
        session,
        _notice(
            notices.Kind.HANDBACK_PROPOSED,
            service,
            dev,
            ops,
            headline=f"Handback proposed: {service.name} back to {_name(dev)}",
            lines=(*notices.breach_lines(proposal.breaches), silence),
            answer=("handback", proposal.id),
        ),
        [dev, ops],
        now,
    )
    return proposal


async def _proposal(session: AsyncSession, proposal_id: int) -> tuple[HandbackProposal, Service]:
    """The proposal and its service, both locked, the service first (as ``_request``)."""
    service_id = await session.scalar(
        select(HandbackProposal.service_id).where(HandbackProposal.id == proposal_id)
    )
    if service_id is None:
        raise NotFound(f"handback proposal {proposal_id} not found")
    service = await _service(session, service_id, lock=True)
    proposal = await session.scalar(
        select(HandbackProposal)
        .where(HandbackProposal.id == proposal_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if proposal is None:  # deleted between the two reads
        raise NotFound(f"handback proposal {proposal_id} not found")
    return proposal, service


async def _move_back(
    session: AsyncSession,
    service: Service,
    *,
    decided_by_id: int | None,
    reason: str,
    proposal: HandbackProposal | None,
    now: datetime,
) -> Transition:
    """Back to the developers: their policy restored, the move recorded, both teams told."""
    restored = service.developer_policy_id
    if restored is None or await session.get(EscalationPolicy, restored) is None:
        restored = service.escalation_policy_id
    evidence = proposal.breaches if proposal is not None else []
    transition = Transition(
        service_id=service.id,
        direction=Direction.HANDBACK,
        from_support=service.support_model.value,
        to_support=SupportModel.DEV.value,
        from_policy_id=service.escalation_policy_id,
        to_policy_id=restored,
        ops_team_id=service.ops_team_id,
        decided_by_id=decided_by_id,
        decided_by_name=await _user_name(session, decided_by_id),
        decided_at=now,
        reason=reason,
        evidence=list(evidence),
        handback_proposal_id=proposal.id if proposal is not None else None,
    )
    session.add(transition)
    service.escalation_policy_id = restored
    service.developer_policy_id = None
    service.support_model = SupportModel.DEV
    service.support_since = now
    # Other open proposals for the service no longer apply.
    for other in await session.scalars(
        select(HandbackProposal).where(
            HandbackProposal.service_id == service.id, HandbackProposal.state == RequestState.OPEN
        )
    ):
        if proposal is None or other.id != proposal.id:
            other.state = RequestState.CLOSED
            other.decided_at = now
    await session.flush()
    service_changes.after_commit(session, service.id)
    dev, ops = await _teams(session, service, service.ops_team_id)
    await _tell(
        session,
        _notice(
            notices.Kind.HANDBACK_ACCEPTED,
            service,
            dev,
            ops,
            headline=f"{service.name} is back with {_name(dev)}; {_name(ops)} consults",
            lines=(
                f"Decided by {transition.decided_by_name}" + (f": {reason}" if reason else "."),
                *notices.breach_lines(evidence),
                "The exit criteria (the launch checklist) are on the service's readiness page.",
            ),
        ),
        [dev, ops],
        now,
    )
    return transition


async def accept_handback(
    session: AsyncSession, principal: Principal, proposal_id: int, *, reason: str = ""
) -> Transition:
    proposal, service = await _proposal(session, proposal_id)
    await _require_ops(session, principal, service.ops_team_id, "accept a handback")
    if proposal.state is not RequestState.OPEN:
        raise Conflict(f"handback proposal {proposal_id} is {proposal.state.value}")
    if service.support_model is not SupportModel.OPS:
        raise Conflict(f"{service.name} is not supported by Ops")
    now = session_clock(session).now()
    _answer(proposal, RequestState.ACCEPTED, by=principal.user_id, at=now, reason=reason)
    return await _move_back(
        session, service, decided_by_id=principal.user_id, reason=reason, proposal=proposal, now=now
    )


async def decline_handback(
    session: AsyncSession, principal: Principal, proposal_id: int, *, reason: str
) -> HandbackProposal:
    proposal, service = await _proposal(session, proposal_id)
    await _require_ops(session, principal, service.ops_team_id, "decline a handback")
    if proposal.state is not RequestState.OPEN:
        raise Conflict(f"handback proposal {proposal_id} is {proposal.state.value}")
    if not reason.strip():
        raise InvalidInput("say why the handback is declined", field="body.reason")
    now = session_clock(session).now()
    _answer(proposal, RequestState.DECLINED, by=principal.user_id, at=now, reason=reason)
    dev, ops = await _teams(session, service, service.ops_team_id)
    await _tell(
        session,
        _notice(
            notices.Kind.HANDBACK_DECLINED,
            service,
            dev,
            ops,
            headline=f"{_name(ops)} keeps {service.name}: handback declined",
            lines=(f"{await _user_name(session, principal.user_id)}: {reason}",),
        ),
        [dev, ops],
        now,
    )
    await session.flush()
    return proposal


async def hand_back(
    session: AsyncSession, principal: Principal, service_id: int, *, reason: str
) -> Transition:
    """Ops hands a service back without waiting for a proposal (an open one is accepted)."""
    service = await _service(session, service_id, lock=True)
    await _require_ops(session, principal, service.ops_team_id, "hand a service back")
    if service.support_model is not SupportModel.OPS:
        raise Conflict(f"{service.name} is not supported by Ops")
    if not reason.strip():
        raise InvalidInput("say why the service goes back to its developers", field="body.reason")
    now = session_clock(session).now()
    proposal = await open_proposal(session, service_id)
    if proposal is not None:
        _answer(proposal, RequestState.ACCEPTED, by=principal.user_id, at=now, reason=reason)
    return await _move_back(
        session, service, decided_by_id=principal.user_id, reason=reason, proposal=proposal, now=now
    )


async def accept_on_silence(session: AsyncSession, now: datetime) -> int:
    """Proposals past their grace period, on services that allow it, take effect."""
    due = list(
        await session.scalars(
            select(HandbackProposal.id).where(
                HandbackProposal.state == RequestState.OPEN,
                HandbackProposal.due_at.is_not(None),
                HandbackProposal.due_at <= now,
            )
        )
    )
    moved = 0
    for proposal_id in due:
        proposal, service = await _proposal(session, proposal_id)
        if proposal.state is not RequestState.OPEN:
            continue  # answered meanwhile
        if service.support_model is not SupportModel.OPS or not service.handback_on_silence:
            continue
        _answer(
            proposal,
            RequestState.ACCEPTED_ON_SILENCE,
            by=None,
            at=now,
            reason="no answer within the grace period",
        )
        await _move_back(
            session,
            service,
            decided_by_id=None,
            reason="Ops did not answer the proposal within the grace period",
            proposal=proposal,
            now=now,
        )
        moved += 1
    return moved


# --------------------------------------------------------------------------------- the listing


async def transitions_of(session: AsyncSession, service_id: int) -> list[Transition]:
    rows = await session.scalars(
        select(Transition)
        .where(Transition.service_id == service_id)
        .order_by(Transition.decided_at.desc(), Transition.id.desc())
    )
    return list(rows)


async def handover_requests_of(session: AsyncSession, service_id: int) -> list[HandoverRequest]:
    rows = await session.scalars(
        select(HandoverRequest)
        .where(HandoverRequest.service_id == service_id)
        .order_by(HandoverRequest.requested_at.desc(), HandoverRequest.id.desc())
    )
    return list(rows)


async def proposals_of(session: AsyncSession, service_id: int) -> list[HandbackProposal]:
    rows = await session.scalars(
        select(HandbackProposal)
        .where(HandbackProposal.service_id == service_id)
        .order_by(HandbackProposal.created_at.desc(), HandbackProposal.id.desc())
    )
    return list(rows)


async def latest_evaluations(session: AsyncSession) -> dict[int, Evaluation]:
    """Each service's newest stored evaluation."""
    newest = (
        select(Evaluation.service_id, func.max(Evaluation.id).label("id"))
        .group_by(Evaluation.service_id)
        .subquery()
    )
    rows = await session.scalars(select(Evaluation).join(newest, newest.c.id == Evaluation.id))
    return {row.service_id: row for row in rows}


async def prune_history(session: AsyncSession, service_id: int, before: datetime) -> int:
    """The service's nightly evaluations older than ``before`` (the results a decision was
    made on are kept on its transition)."""
    result = await session.execute(
        delete(Evaluation).where(
            Evaluation.service_id == service_id,
            Evaluation.evaluated_at < before,
            Evaluation.trigger == Trigger.NIGHTLY,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------ the view


def evaluation_out(row: Evaluation, before: Evaluation | None) -> schemas.EvaluationOut:
    results = [checklist.Result.from_json(r) for r in row.results]
    earlier = [checklist.Result.from_json(r) for r in before.results] if before else None
    changed = checklist.changes(earlier, results) if earlier is not None else []
    return schemas.EvaluationOut(
        id=row.id,
        service_id=row.service_id,
        evaluated_at=row.evaluated_at,
        trigger=row.trigger.value,
        support_model=row.support_model,
        score=row.score,
        band=row.band,
        results=[schemas.ResultOut.model_validate(r.to_json()) for r in results],
        changes=[schemas.ChangeOut.model_validate(c, from_attributes=True) for c in changed],
    )


async def view(session: AsyncSession, service_id: int) -> schemas.ReadinessOut:
    """The service's readiness now: the live evaluation (compared with the latest stored one),
    the history, sign-offs, the open request or proposal, and the transitions."""
    service = await _service(session, service_id)
    now = session_clock(session).now()
    evaluation = await evaluate(session, service, now)
    stored = await history(session, service_id)
    rows = [
        evaluation_out(row, stored[i + 1] if i + 1 < len(stored) else None)
        for i, row in enumerate(stored)
    ]
    live_results = list(evaluation.results)
    previous = [checklist.Result.from_json(r) for r in stored[0].results] if stored else None
    current = schemas.EvaluationOut(
        service_id=service.id,
        evaluated_at=now,
        trigger="live",
        support_model=service.support_model.value,
        score=evaluation.score,
        band=evaluation.band.value,
        results=[schemas.ResultOut.model_validate(r.to_json()) for r in live_results],
        changes=[
            schemas.ChangeOut.model_validate(c, from_attributes=True)
            for c in (checklist.changes(previous, live_results) if previous is not None else [])
        ],
    )
    transitions = await transitions_of(session, service_id)
    handover = await open_handover(session, service_id)
    proposal = await open_proposal(session, service_id)
    return schemas.ReadinessOut(
        service_id=service.id,
        service_name=service.name,
        support_model=service.support_model.value,
        ops_team_id=service.ops_team_id,
        handed_back=service.support_model is SupportModel.DEV
        and bool(transitions)
        and transitions[0].direction is Direction.HANDBACK,
        current=current,
        handover_allowed=service.support_model is SupportModel.DEV and evaluation.handover_allowed,
        failing_required=[r.key for r in evaluation.failing_required],
        history=rows,
        sign_offs=[
            schemas.SignOffOut.model_validate(s) for s in await sign_offs_of(session, service_id)
        ],
        open_handover=schemas.HandoverRequestOut.model_validate(handover) if handover else None,
        open_proposal=schemas.ProposalOut.model_validate(proposal) if proposal else None,
        transitions=[schemas.TransitionOut.model_validate(t) for t in transitions],
    )


async def overview(session: AsyncSession) -> list[schemas.OverviewRow]:
    """Every service with its latest stored score, the lowest first."""
    latest = await latest_evaluations(session)
    services = list(await session.scalars(select(Service).order_by(Service.name)))
    open_requests = set(
        await session.scalars(
            select(HandoverRequest.service_id).where(HandoverRequest.state == RequestState.OPEN)
        )
    )
    open_proposals = set(
        await session.scalars(
            select(HandbackProposal.service_id).where(HandbackProposal.state == RequestState.OPEN)
        )
    )
    rows = []
    for service in services:
        evaluation = latest.get(service.id)
        rows.append(
            schemas.OverviewRow(
                service_id=service.id,
                service_name=service.name,
                team_id=service.team_id,
                support_model=service.support_model.value,
                score=evaluation.score if evaluation else None,
                band=evaluation.band if evaluation else None,
                evaluated_at=evaluation.evaluated_at if evaluation else None,
                open_handover=service.id in open_requests,
                open_proposal=service.id in open_proposals,
            )
        )
    rows.sort(key=lambda r: (r.score if r.score is not None else -1, r.service_name))
    return rows
