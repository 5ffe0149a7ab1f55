"""Services and escalation policies (``/services``, ``/services/{id}``,
``/escalation-policies/{id}``): what is paged for, who owns it, how it escalates and who that
reaches now, its maintenance windows. Everyone may look; editing and maintenance call the same
services as the API, which decide who may (the owning team's members and admins)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import schemas as catalog_schemas
from app.catalog import service as catalog
from app.catalog.models import Service, SupportModel, UrgencyRule
from app.core.auth import Principal
from app.core.errors import InvalidInput
from app.core.session import ClockDep, DbSession
from app.deploys import service as deploys
from app.escalation import schemas as escalation_schemas
from app.escalation import service as escalation
from app.escalation.models import EscalationPolicy, EscalationStep, TargetKind
from app.incidents import history as incident_history
from app.people import service as people_service
from app.people.models import Team, User
from app.schedules import oncall_queries
from app.schedules import service as schedules_service
from app.schedules.models import Schedule
from app.schedules.schemas import OnCallOut
from app.web.auth import WebReader, WebWriter
from app.web.deploy_views import rows_of, watch_words
from app.web.forms import form_text, validated
from app.web.listing import all_teams, every_page
from app.web.templating import render

router = APIRouter()

MAINTENANCE_NOW = timedelta(hours=1)
RECENT_DEPLOYS = 10


# ------------------------------------------------------------------------- what pages show


@dataclass(frozen=True)
class Reach:
    """One target of an escalation step, and who it reaches now."""

    kind: str
    label: str
    link: str | None
    now: str  # who it pages at this moment, in words


@dataclass(frozen=True)
class StepView:
    number: int
    delay_minutes: int
    targets: list[Reach]


async def _names(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, User]:
    return await schedules_service.people(session, user_ids)


async def _teams(session: AsyncSession) -> dict[int, Team]:
    teams = await all_teams(session)
    return {team.id: team for team in teams}


def _on_call_words(answer: OnCallOut | None) -> str:
    if answer is None:
        return "unknown schedule"
    if not answer.responders:
        return "nobody (a gap)"
    words = ", ".join(person.name for person in answer.responders)
    if answer.shadows:
        words += " (shadow: " + ", ".join(person.name for person in answer.shadows) + ")"
    return words


async def steps_of(session: AsyncSession, policy: EscalationPolicy, at: datetime) -> list[StepView]:
    """The policy's ladder with, for each target, who it would page at ``at``."""
    user_ids = {t.user_id for s in policy.steps for t in s.targets if t.user_id is not None}
    schedule_ids = sorted(
        {t.schedule_id for s in policy.steps for t in s.targets if t.schedule_id is not None}
    )
    users = await _names(session, user_ids)
    answers = {
        a.schedule_id: a for a in await oncall_queries.who_is_on_call(session, schedule_ids, at)
    }
    views = []
    for step in policy.steps:
        reaches = []
        for target in step.targets:
            kind = TargetKind(target.kind)
            if kind is TargetKind.USER and target.user_id is not None:
                name = users[target.user_id].name if target.user_id in users else "unknown"
                reaches.append(Reach("person", name, None, name))
            elif kind is TargetKind.SCHEDULE and target.schedule_id is not None:
                answer = answers.get(target.schedule_id)
                label = answer.schedule_name if answer else f"schedule {target.schedule_id}"
                reaches.append(
                    Reach(
                        "schedule",
                        label,
                        f"/schedules/{target.schedule_id}",
                        _on_call_words(answer),
                    )
                )
            elif kind is TargetKind.SLACK_CHANNEL:
                channel = f"#{target.address}"
                reaches.append(Reach("Slack channel", channel, None, channel))
            else:
                reaches.append(Reach("webhook", target.address or "", None, "the webhook"))
        views.append(StepView(step.position + 1, step.delay_minutes, reaches))
    return views


@dataclass(frozen=True)
class ServiceRow:
    service: Service
    team: Team | None
    policy: EscalationPolicy | None
    open_incidents: int
    in_maintenance: bool


# ---------------------------------------------------------------------------------- services


@router.get("/services")
async def services_page(
    request: Request, signed_in: WebReader, session: DbSession, clock: ClockDep
) -> HTMLResponse:
    services = await every_page(lambda page: catalog.list_services(session, page))
    teams = await _teams(session)
    policies = {
        p.id: p for p in await every_page(lambda page: escalation.list_policies(session, page))
    }
    open_counts = await incident_history.open_counts_by_service(session)
    held = await catalog.services_in_maintenance(session, clock.now())
    rows = [
        ServiceRow(
            service=svc,
            team=teams.get(svc.team_id),
            policy=policies.get(svc.escalation_policy_id)
            if svc.escalation_policy_id is not None
            else None,
            open_incidents=open_counts.get(svc.id, 0),
            in_maintenance=svc.id in held,
        )
        for svc in sorted(services, key=lambda s: s.name.lower())
    ]
    return render(request, "services/list.html", {"rows": rows})


@router.get("/services/{service_id}")
async def service_page(
    request: Request, signed_in: WebReader, session: DbSession, clock: ClockDep, service_id: int
) -> HTMLResponse:
    now = clock.now()
    svc = await catalog.get_service(session, service_id)
    teams = await _teams(session)
    policies = await every_page(lambda page: escalation.list_policies(session, page))
    policy = next((p for p in policies if p.id == svc.escalation_policy_id), None)
    window = await catalog.active_window(session, service_id, now)
    windows = await catalog.list_maintenance(session, service_id)
    open_counts = await incident_history.open_counts_by_service(session)
    recent = await deploys.recent_for_service(session, service_id, limit=RECENT_DEPLOYS)
    return render(
        request,
        "services/service.html",
        {
            "service": svc,
            "team": teams.get(svc.team_id),
            "teams": sorted(teams.values(), key=lambda t: t.name.lower()),
            "policy": policy,
            "policies": sorted(policies, key=lambda p: p.name.lower()),
            "steps": await steps_of(session, policy, now) if policy else [],
            "window": window,
            "recent_windows": windows[:10],
            "open_incidents": open_counts.get(svc.id, 0),
            "can_edit": signed_in.principal.can_edit_team_resource(svc.team_id),
            "support_models": list(SupportModel),
            "urgency_rules": list(UrgencyRule),
            "labels_text": "\n".join(f"{k}={v}" for k, v in svc.labels.items()),
            "deploys": rows_of(list(recent), {svc.id: svc}),
            "deploy_watch": watch_words(svc),
        },
    )


def _labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                f"labels, line {number}: write each label as key=value", field="body.labels"
            )
        labels[key.strip()] = value.strip()
    return labels


def _blank_is_none(text: str) -> str | None:
    """An emptied field of a nullable setting clears it (the API's null)."""
    return text or None


@router.post("/services/{service_id}")
async def update_service(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int
) -> Response:
    form = await request.form()
    fields = {
        name: form_text(form, name)
        for name in (
            "name",
            "team_id",
            "description",
            "support_model",
            "runbook_url",
            "urgency_rule",
            "fallback_email",
            "fallback_slack_channel",
        )
        if name in form
    }
    if "escalation_policy_id" in form:
        fields["escalation_policy_id"] = _blank_is_none(form_text(form, "escalation_policy_id"))
    if "ack_timeout_minutes" in form:
        fields["ack_timeout_minutes"] = _blank_is_none(form_text(form, "ack_timeout_minutes"))
    if "labels" in form:
        fields["labels"] = _labels(form_text(form, "labels"))
    changes = validated(catalog_schemas.ServiceUpdate, fields)
    await catalog.update_service(session, signed_in.principal, service_id, changes)
    return RedirectResponse(f"/services/{service_id}", status_code=303)


@router.post("/services/{service_id}/maintenance")
async def start_maintenance(
    request: Request, signed_in: WebWriter, session: DbSession, clock: ClockDep, service_id: int
) -> Response:
    form = await request.form()
    window = validated(
        catalog_schemas.MaintenanceCreate,
        {"ends_at": clock.now() + MAINTENANCE_NOW, "reason": form_text(form, "reason")},
    )
    await catalog.start_maintenance(session, signed_in.principal, service_id, window)
    return RedirectResponse(f"/services/{service_id}", status_code=303)


@router.post("/services/{service_id}/maintenance/{window_id}/end")
async def end_maintenance(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int, window_id: int
) -> Response:
    await catalog.end_maintenance(session, signed_in.principal, service_id, window_id)
    return RedirectResponse(f"/services/{service_id}", status_code=303)


# ------------------------------------------------------------------------ escalation policies


def _can_edit_policy(principal: Principal, policy: EscalationPolicy) -> bool:
    return principal.can_edit_team_resource(policy.team_id)


@router.get("/escalation-policies/{policy_id}")
async def policy_page(
    request: Request, signed_in: WebReader, session: DbSession, clock: ClockDep, policy_id: int
) -> HTMLResponse:
    policy = await escalation.get_policy(session, policy_id)
    teams = await _teams(session)
    services = await every_page(lambda page: catalog.list_services(session, page))
    can_edit = _can_edit_policy(signed_in.principal, policy)
    people: list[User] = []
    schedules: list[Schedule] = []
    if can_edit:
        people = sorted(
            await every_page(lambda page: people_service.list_users(session, page)),
            key=lambda u: u.name.lower(),
        )
        schedules = sorted(
            await every_page(lambda page: schedules_service.list_schedules(session, page)),
            key=lambda s: s.name.lower(),
        )
    return render(
        request,
        "services/policy.html",
        {
            "policy": policy,
            "team": teams.get(policy.team_id),
            "steps": await steps_of(session, policy, clock.now()),
            "services": [s for s in services if s.escalation_policy_id == policy.id],
            "can_edit": can_edit,
            "people": people,
            "schedules": schedules,
        },
    )


def _kept_step(step: EscalationStep, delay: str) -> dict[str, Any]:
    return {
        "delay_minutes": delay,
        "targets": [
            {
                "kind": TargetKind(t.kind).value,
                **({"user_id": t.user_id} if t.user_id is not None else {}),
                **({"schedule_id": t.schedule_id} if t.schedule_id is not None else {}),
                **({"address": t.address} if t.address is not None else {}),
            }
            for t in step.targets
        ],
    }


def _new_target(choice: str) -> dict[str, Any]:
    kind, _, target_id = choice.partition(":")
    if kind not in ("user", "schedule") or not target_id.isdigit():
        raise InvalidInput("choose whom the new step pages", field="body.new_target")
    return {"kind": kind, f"{kind}_id": int(target_id)}


@router.post("/escalation-policies/{policy_id}")
async def update_policy(
    request: Request, signed_in: WebWriter, session: DbSession, policy_id: int
) -> Response:
    """Repeat and the ladder from the form: each step's delay, steps removed, one added."""
    policy = await escalation.get_policy(session, policy_id)
    form = await request.form()
    steps = [
        _kept_step(step, form_text(form, f"delay_{step.position}"))
        for step in policy.steps
        if form_text(form, f"remove_{step.position}") != "yes"
    ]
    if choice := form_text(form, "new_target"):
        steps.append(
            {"delay_minutes": form_text(form, "new_delay"), "targets": [_new_target(choice)]}
        )
    changes = validated(
        escalation_schemas.PolicyUpdate, {"repeat": form_text(form, "repeat"), "steps": steps}
    )
    await escalation.update_policy(session, signed_in.principal, policy_id, changes)
    return RedirectResponse(f"/escalation-policies/{policy_id}", status_code=303)
