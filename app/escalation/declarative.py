"""``baton apply`` for escalation policies: ladders by name, targets by e-mail or schedule name."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import session_clock
from app.core.declarative import Action, ApplyReport, UnknownReference, assign
from app.core.schemas import EmailAddress, Name
from app.escalation import schemas
from app.escalation.models import EscalationPolicy, TargetKind
from app.escalation.service import build_steps, get_policy_by_name
from app.people.models import User
from app.people.service import get_team_by_name
from app.schedules.service import get_schedule_by_name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TargetSpec(_Strict):
    user: EmailAddress | None = None
    schedule: str | None = None
    slack_channel: str | None = None
    webhook: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [
            name for name in ("user", "schedule", "slack_channel", "webhook") if getattr(self, name)
        ]
        if len(given) != 1:
            raise ValueError("a target names exactly one of user, schedule, slack_channel, webhook")
        return self


class StepSpec(_Strict):
    after_minutes: int = Field(ge=1, le=1440, description="Wait this long before the next step.")
    targets: list[TargetSpec] = Field(min_length=1)


class PolicySpec(_Strict):
    name: Name
    team: str
    description: str = Field(default="", max_length=2000)
    repeat: int = Field(default=0, ge=0, le=9)
    steps: list[StepSpec] = Field(min_length=1, max_length=20)


class EscalationSection(_Strict):
    escalation_policies: list[PolicySpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_policies(self) -> Self:
        names = [p.name.lower() for p in self.escalation_policies]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"escalation policies listed twice: {', '.join(dupes)}")
        return self


async def _resolve_steps(session: AsyncSession, spec: PolicySpec) -> list[schemas.StepIn]:
    steps = []
    for step in spec.steps:
        targets = []
        for target in step.targets:
            targets.append(await _resolve_target(session, spec.name, target))
        steps.append(schemas.StepIn(delay_minutes=step.after_minutes, targets=targets))
    return steps


async def _resolve_target(
    session: AsyncSession, policy: str, target: TargetSpec
) -> schemas.TargetIn:
    if target.user:
        user_id = await session.scalar(select(User.id).where(User.email == target.user))
        if user_id is None:
            raise UnknownReference(f"escalation policy {policy}: user {target.user} is unknown")
        return schemas.TargetIn(kind=TargetKind.USER, user_id=user_id)
    if target.schedule:
        schedule = await get_schedule_by_name(session, target.schedule)
        if schedule is None:
            raise UnknownReference(
                f"escalation policy {policy}: schedule {target.schedule} is unknown"
            )
        return schemas.TargetIn(kind=TargetKind.SCHEDULE, schedule_id=schedule.id)
    if target.slack_channel:
        return schemas.TargetIn(kind=TargetKind.SLACK_CHANNEL, address=target.slack_channel)
    return schemas.TargetIn(kind=TargetKind.WEBHOOK, address=target.webhook)


def _ladder(
    steps: list[Any],
) -> list[tuple[int, list[tuple[str, int | None, int | None, str | None]]]]:
    """A comparable form of a ladder, from schemas or rows alike."""
    return [
        (s.delay_minutes, [(str(t.kind), t.user_id, t.schedule_id, t.address) for t in s.targets])
        for s in steps
    ]


async def apply_escalation(
    session: AsyncSession, section: EscalationSection, report: ApplyReport, *, prune: bool
) -> None:
    seen = set()
    for spec in section.escalation_policies:
        seen.add(spec.name.lower())
        team = await get_team_by_name(session, spec.team)
        if team is None:
            raise UnknownReference(f"escalation policy {spec.name}: team {spec.team} is unknown")
        steps = await _resolve_steps(session, spec)
        policy = await get_policy_by_name(session, spec.name)
        values = {
            "name": spec.name,
            "team_id": team.id,
            "description": spec.description,
            "repeat": spec.repeat,
            "config_managed": True,
        }
        if policy is None:
            policy = EscalationPolicy(**values)
            policy.steps = build_steps(steps)
            session.add(policy)
            report.add(Action.CREATE, "escalation_policy", spec.name)
            continue
        changed = assign(policy, values)
        if _ladder(policy.steps) != _ladder(steps):
            # Incidents already open keep the ladder they copied; new ones use this one.
            policy.steps.clear()
            await session.flush()
            policy.steps.extend(build_steps(steps))
            policy.updated_at = session_clock(session).now()
            changed += ("steps",)
        report.add(
            Action.UPDATE if changed else Action.UNCHANGED, "escalation_policy", spec.name, changed
        )
    await session.flush()
    stale = await session.scalars(
        select(EscalationPolicy).where(EscalationPolicy.config_managed.is_(True))
    )
    for policy in stale:
        if policy.name.lower() not in seen:
            if prune:
                await session.delete(policy)
                report.add(Action.DELETE, "escalation_policy", policy.name)
            else:
                report.add(Action.STALE, "escalation_policy", policy.name)
