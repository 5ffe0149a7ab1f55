"""Escalation policies: ordered steps of targets, copied onto incidents when they open."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.outbound import ensure_url_allowed
from app.core.pagination import PageParams, paginate
from app.escalation import schemas
from app.escalation.models import EscalationPolicy, EscalationStep, EscalationTarget, TargetKind
from app.escalation.policy import PolicySnapshot, StepSnapshot, TargetSnapshot
from app.people.models import Team, User
from app.schedules.models import Schedule

_WITH_STEPS = selectinload(EscalationPolicy.steps).selectinload(EscalationStep.targets)


async def list_policies(
    session: AsyncSession, page: PageParams, *, team_id: int | None = None
) -> tuple[Sequence[EscalationPolicy], str | None]:
    stmt = select(EscalationPolicy).options(_WITH_STEPS)
    if team_id is not None:
        stmt = stmt.where(EscalationPolicy.team_id == team_id)
    return await paginate(session, stmt, EscalationPolicy.id, page)


async def get_policy(session: AsyncSession, policy_id: int) -> EscalationPolicy:
    policy = await session.scalar(
        select(EscalationPolicy).where(EscalationPolicy.id == policy_id).options(_WITH_STEPS)
    )
    if policy is None:
        raise NotFound(f"escalation policy {policy_id} not found")
    return policy


async def get_policy_by_name(session: AsyncSession, name: str) -> EscalationPolicy | None:
    return await session.scalar(
        select(EscalationPolicy)
        .where(func.lower(EscalationPolicy.name) == name.lower())
        .options(_WITH_STEPS)
    )


async def _ensure_name_free(session: AsyncSession, name: str, except_id: int | None) -> None:
    existing = await get_policy_by_name(session, name)
    if existing is not None and existing.id != except_id:
        raise Conflict(f"an escalation policy named {name!r} already exists")


async def _ensure_team(session: AsyncSession, team_id: int) -> None:
    if await session.get(Team, team_id) is None:
        raise InvalidInput(f"team {team_id} does not exist", field="body.team_id")


async def _validate_targets(session: AsyncSession, steps: list[schemas.StepIn]) -> None:
    for step_index, step in enumerate(steps):
        for target_index, target in enumerate(step.targets):
            if target.kind is TargetKind.WEBHOOK and target.address:
                await ensure_url_allowed(
                    session,
                    target.address,
                    field=f"body.steps.{step_index}.targets.{target_index}.address",
                )
    user_ids = {t.user_id for s in steps for t in s.targets if t.user_id is not None}
    schedule_ids = {t.schedule_id for s in steps for t in s.targets if t.schedule_id is not None}
    if user_ids:
        found = set(await session.scalars(select(User.id).where(User.id.in_(user_ids))))
        if missing := sorted(user_ids - found):
            raise InvalidInput(f"unknown users in targets: {missing}", field="body.steps")
    if schedule_ids:
        found = set(await session.scalars(select(Schedule.id).where(Schedule.id.in_(schedule_ids))))
        if missing := sorted(schedule_ids - found):
            raise InvalidInput(f"unknown schedules in targets: {missing}", field="body.steps")


def build_steps(steps: list[schemas.StepIn]) -> list[EscalationStep]:
    built = []
    for position, step in enumerate(steps):
        row = EscalationStep(position=position, delay_minutes=step.delay_minutes)
        row.targets = [
            EscalationTarget(
                kind=t.kind, user_id=t.user_id, schedule_id=t.schedule_id, address=t.address
            )
            for t in step.targets
        ]
        built.append(row)
    return built


async def create_policy(
    session: AsyncSession, principal: Principal, data: schemas.PolicyCreate
) -> EscalationPolicy:
    principal.require_team_write(data.team_id, "the team's escalation policies")
    await _ensure_team(session, data.team_id)
    await _ensure_name_free(session, data.name, None)
    await _validate_targets(session, data.steps)
    policy = EscalationPolicy(
        name=data.name, team_id=data.team_id, description=data.description, repeat=data.repeat
    )
    policy.steps = build_steps(data.steps)
    session.add(policy)
    await session.flush()
    return await get_policy(session, policy.id)


async def update_policy(
    session: AsyncSession, principal: Principal, policy_id: int, data: schemas.PolicyUpdate
) -> EscalationPolicy:
    policy = await get_policy(session, policy_id)
    principal.require_team_write(policy.team_id, "this escalation policy")
    changes = data.model_dump(exclude_unset=True, exclude={"steps"})
    if changes.get("team_id") is not None:
        principal.require_team_write(changes["team_id"], "the new owning team's policies")
        await _ensure_team(session, changes["team_id"])
    if changes.get("name"):
        await _ensure_name_free(session, changes["name"], policy.id)
    for key, value in changes.items():
        setattr(policy, key, value)
    if data.steps is not None:
        await _validate_targets(session, data.steps)
        # Replacing the ladder only affects incidents opened from now on (they copy it).
        policy.steps.clear()
        await session.flush()
        policy.steps.extend(build_steps(data.steps))
        policy.updated_at = session_clock(session).now()
    await session.flush()
    session.expire(policy)
    return await get_policy(session, policy_id)


async def delete_policy(session: AsyncSession, principal: Principal, policy_id: int) -> None:
    policy = await get_policy(session, policy_id)
    principal.require_team_write(policy.team_id, "this escalation policy")
    await session.delete(policy)
    try:
        await session.flush()
    except IntegrityError:
        # The services' foreign key refuses it: the catalog sits above escalation, which does
        # not look services up itself.
        raise Conflict(
            "services still use this policy; give them another one first (GET /api/v1/services "
            "shows each service's escalation_policy_id)"
        ) from None


def snapshot(policy: EscalationPolicy) -> PolicySnapshot:
    return PolicySnapshot(
        policy_id=policy.id,
        name=policy.name,
        repeat=policy.repeat,
        steps=tuple(
            StepSnapshot(
                delay_minutes=step.delay_minutes,
                targets=tuple(
                    TargetSnapshot(
                        kind=TargetKind(t.kind).value,
                        user_id=t.user_id,
                        schedule_id=t.schedule_id,
                        address=t.address,
                    )
                    for t in step.targets
                ),
            )
            for step in policy.steps
        ),
    )


async def load_snapshot(session: AsyncSession, policy_id: int) -> PolicySnapshot | None:
    """The policy as a snapshot, in one round trip (incidents open on the alert hot path)."""
    rows = (
        await session.execute(
            select(
                EscalationPolicy.name,
                EscalationPolicy.repeat,
                EscalationStep.position,
                EscalationStep.delay_minutes,
                EscalationTarget.kind,
                EscalationTarget.user_id,
                EscalationTarget.schedule_id,
                EscalationTarget.address,
            )
            .join(EscalationStep, EscalationStep.policy_id == EscalationPolicy.id)
            .join(EscalationTarget, EscalationTarget.step_id == EscalationStep.id)
            .where(EscalationPolicy.id == policy_id)
            .order_by(EscalationStep.position, EscalationTarget.id)
        )
    ).all()
    if not rows:
        policy = await session.get(EscalationPolicy, policy_id)
        if policy is None:
            return None
        return PolicySnapshot(policy.id, policy.name, policy.repeat, ())
    steps: dict[int, tuple[int, list[TargetSnapshot]]] = {}
    for _, _, position, delay, kind, user_id, schedule_id, address in rows:
        _, targets = steps.setdefault(position, (delay, []))
        targets.append(TargetSnapshot(TargetKind(kind).value, user_id, schedule_id, address))
    return PolicySnapshot(
        policy_id=policy_id,
        name=rows[0].name,
        repeat=rows[0].repeat,
        steps=tuple(StepSnapshot(delay, tuple(targets)) for delay, targets in steps.values()),
    )
