"""Launch requirements, hand-over and handback over HTTP (docs/readiness.md)."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.core.auth import AdminOnly, Reader, Writer
from app.core.schemas import Id
from app.core.session import DbSession
from app.readiness import checklist, schemas, service
from app.readiness.models import ReadinessSettings

router = APIRouter(tags=["readiness"])


def _checklist_out(
    team_id: int | None, items: tuple[checklist.Item, ...], *, default: bool
) -> schemas.ChecklistOut:
    return schemas.ChecklistOut(
        team_id=team_id, items=[schemas.ItemOut.of(i) for i in items], default=default
    )


def _thresholds_out(limits: checklist.HandbackThresholds) -> schemas.ThresholdsOut:
    return schemas.ThresholdsOut(
        window_days=limits.window_days,
        max_pages_per_shift=limits.max_pages_per_shift,
        max_sleep_pages=limits.max_sleep_pages,
        mttr_worsening_percent=limits.mttr_worsening_percent,
        lowest_failure_band=limits.lowest_failure_band,
        overdue_action_items=limits.overdue_action_items,
        grace_days=limits.grace_days,
    )


@router.get("/api/v1/readiness/checklist", response_model=schemas.ChecklistOut)
async def organisation_checklist(session: DbSession, _: Reader) -> schemas.ChecklistOut:
    row = await session.get(ReadinessSettings, service.SETTINGS_ROW)
    items = await service.organisation_items(session)
    return _checklist_out(None, items, default=row is None or row.items is None)


@router.put("/api/v1/readiness/checklist", response_model=schemas.ChecklistOut)
async def set_organisation_checklist(
    body: schemas.ChecklistIn, session: DbSession, principal: AdminOnly
) -> schemas.ChecklistOut:
    items = await service.set_organisation_items(
        session, principal, [i.to_item() for i in body.items]
    )
    return _checklist_out(None, items, default=False)


@router.delete("/api/v1/readiness/checklist", response_model=schemas.ChecklistOut)
async def reset_organisation_checklist(
    session: DbSession, principal: AdminOnly
) -> schemas.ChecklistOut:
    items = await service.set_organisation_items(session, principal, None)
    return _checklist_out(None, items, default=True)


@router.get("/api/v1/teams/{team_id}/readiness/checklist", response_model=schemas.ChecklistOut)
async def team_checklist(team_id: Id, session: DbSession, _: Reader) -> schemas.ChecklistOut:
    items = await service.checklist_of_team(session, team_id)
    return _checklist_out(team_id, items, default=False)


@router.put("/api/v1/teams/{team_id}/readiness/checklist", response_model=schemas.ChecklistOut)
async def set_team_checklist(
    team_id: Id, body: schemas.ChecklistIn, session: DbSession, principal: Writer
) -> schemas.ChecklistOut:
    """The team's additions (an item with an organisation item's key replaces it); the merged
    checklist must sum to 100."""
    items = await service.set_team_additions(
        session, principal, team_id, [i.to_item() for i in body.items]
    )
    return _checklist_out(team_id, items, default=False)


@router.get("/api/v1/readiness/thresholds", response_model=schemas.ThresholdsOut)
async def handback_thresholds(session: DbSession, _: Reader) -> schemas.ThresholdsOut:
    return _thresholds_out(await service.thresholds(session))


@router.patch("/api/v1/readiness/thresholds", response_model=schemas.ThresholdsOut)
async def set_handback_thresholds(
    body: schemas.ThresholdsIn, session: DbSession, principal: AdminOnly
) -> schemas.ThresholdsOut:
    return _thresholds_out(await service.set_thresholds(session, principal, body))


@router.get("/api/v1/readiness", response_model=list[schemas.OverviewRow])
async def readiness_overview(session: DbSession, _: Reader) -> list[schemas.OverviewRow]:
    """Every service with its latest stored score, the lowest first."""
    return await service.overview(session)


@router.get("/api/v1/services/{service_id}/readiness", response_model=schemas.ReadinessOut)
async def service_readiness(service_id: Id, session: DbSession, _: Reader) -> schemas.ReadinessOut:
    return await service.view(session, service_id)


@router.post(
    "/api/v1/services/{service_id}/readiness/evaluations",
    response_model=schemas.EvaluationOut,
    status_code=status.HTTP_201_CREATED,
)
async def evaluate_now(
    service_id: Id, session: DbSession, principal: Writer
) -> schemas.EvaluationOut:
    row = await service.evaluate_and_store(session, principal, service_id)
    stored = await service.history(session, service_id, limit=2)
    before = stored[1] if len(stored) > 1 and stored[0].id == row.id else None
    return service.evaluation_out(row, before)


@router.put(
    "/api/v1/services/{service_id}/readiness/sign-offs/{item_key}",
    response_model=schemas.SignOffOut,
)
async def sign_off(
    service_id: Id,
    item_key: schemas.ItemKey,
    body: schemas.SignOffIn,
    session: DbSession,
    principal: Writer,
) -> schemas.SignOffOut:
    row = await service.sign_off(
        session,
        principal,
        service_id,
        item_key,
        comment=body.comment,
        signed_on=body.signed_on,
        signer_id=body.signed_by_id,
    )
    return schemas.SignOffOut.model_validate(row)


@router.delete(
    "/api/v1/services/{service_id}/readiness/sign-offs/{item_key}",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def withdraw_sign_off(
    service_id: Id, item_key: schemas.ItemKey, session: DbSession, principal: Writer
) -> None:
    await service.withdraw_sign_off(session, principal, service_id, item_key)


@router.post(
    "/api/v1/services/{service_id}/handover",
    response_model=schemas.HandoverRequestOut,
    status_code=status.HTTP_201_CREATED,
)
async def request_handover(
    service_id: Id, body: schemas.HandoverIn, session: DbSession, principal: Writer
) -> schemas.HandoverRequestOut:
    request = await service.request_handover(
        session, principal, service_id, ops_team_id=body.ops_team_id, note=body.note
    )
    return schemas.HandoverRequestOut.model_validate(request)


@router.post("/api/v1/handover-requests/{request_id}/accept", response_model=schemas.TransitionOut)
async def accept_handover(
    request_id: Id, body: schemas.HandoverAcceptIn, session: DbSession, principal: Writer
) -> schemas.TransitionOut:
    transition = await service.accept_handover(
        session,
        principal,
        request_id,
        escalation_policy_id=body.escalation_policy_id,
        keep_developers=body.keep_developers,
        override_reason=body.override_reason,
    )
    return schemas.TransitionOut.model_validate(transition)


@router.post(
    "/api/v1/handover-requests/{request_id}/decline", response_model=schemas.HandoverRequestOut
)
async def decline_handover(
    request_id: Id, body: schemas.DecisionIn, session: DbSession, principal: Writer
) -> schemas.HandoverRequestOut:
    request = await service.decline_handover(session, principal, request_id, reason=body.reason)
    return schemas.HandoverRequestOut.model_validate(request)


@router.post(
    "/api/v1/handover-requests/{request_id}/withdraw", response_model=schemas.HandoverRequestOut
)
async def withdraw_handover(
    request_id: Id, session: DbSession, principal: Writer
) -> schemas.HandoverRequestOut:
    request = await service.withdraw_handover(session, principal, request_id)
    return schemas.HandoverRequestOut.model_validate(request)


@router.post(
    "/api/v1/services/{service_id}/handback",
    response_model=schemas.TransitionOut,
    status_code=status.HTTP_201_CREATED,
)
async def hand_back(
    service_id: Id, body: schemas.HandbackIn, session: DbSession, principal: Writer
) -> schemas.TransitionOut:
    """Ops hands the service back to its developers now (an open proposal is accepted)."""
    transition = await service.hand_back(session, principal, service_id, reason=body.reason)
    return schemas.TransitionOut.model_validate(transition)


@router.post(
    "/api/v1/handback-proposals/{proposal_id}/accept", response_model=schemas.TransitionOut
)
async def accept_handback(
    proposal_id: Id, body: schemas.DecisionIn, session: DbSession, principal: Writer
) -> schemas.TransitionOut:
    transition = await service.accept_handback(session, principal, proposal_id, reason=body.reason)
    return schemas.TransitionOut.model_validate(transition)


@router.post("/api/v1/handback-proposals/{proposal_id}/decline", response_model=schemas.ProposalOut)
async def decline_handback(
    proposal_id: Id, body: schemas.DecisionIn, session: DbSession, principal: Writer
) -> schemas.ProposalOut:
    proposal = await service.decline_handback(session, principal, proposal_id, reason=body.reason)
    return schemas.ProposalOut.model_validate(proposal)
