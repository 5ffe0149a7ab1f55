"""Incident reviews over HTTP: drafting, editing, states, exports, action items, reviews owed."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.core.auth import Reader, Writer
from app.core.errors import NotFound
from app.core.schemas import Id
from app.core.session import ClockDep, DbSession
from app.review import export, schemas, service
from app.review.draft import ReviewDocument
from app.review.models import ActionItem, Review, ReviewState

router = APIRouter(tags=["reviews"])

# The HTML export is sanitized; this keeps even a sanitizer's miss inert where it is opened
# straight from the API: no script, no style sheet, no fetch, an opaque origin.
EXPORT_CSP = "default-src 'none'; sandbox"


def review_out(review: Review) -> schemas.ReviewOut:
    return schemas.ReviewOut.model_validate(review)


def item_out(item: ActionItem, incident_id: int, today: date) -> schemas.ActionItemOut:
    return schemas.ActionItemOut(
        id=item.id,
        review_id=item.review_id,
        incident_id=incident_id,
        title=item.title,
        owner_id=item.owner_id,
        due_date=item.due_date,
        status=item.status,
        tracker_url=item.tracker_url,
        past_due=service.past_due(item, today),
        completed_at=item.completed_at,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def document_out(
    review: Review, doc: ReviewDocument, items: list[ActionItem], today: date
) -> schemas.ReviewDocumentOut:
    draft = doc.draft
    return schemas.ReviewDocumentOut(
        review=review_out(review),
        incident=asdict(doc.incident),
        started_at=draft.started_at,
        seconds_to_acknowledge=draft.seconds_to_acknowledge,
        seconds_to_resolve=draft.seconds_to_resolve,
        timeline=[schemas.TimelineEntryOut.model_validate(asdict(e)) for e in draft.timeline],
        pages=[asdict(p) for p in draft.pages],
        notifications=[asdict(n) for n in draft.notifications],
        acknowledgements=[asdict(a) for a in draft.acknowledgements],
        escalations=[asdict(e) for e in draft.escalations],
        reassignments=[asdict(r) for r in draft.reassignments],
        resolution=asdict(draft.resolution) if draft.resolution else None,
        alerts=[asdict(a) for a in draft.alerts],
        deploys=[schemas.DeployNearbyOut.model_validate(asdict(d)) for d in doc.deploys],
        notes=[asdict(n) for n in draft.notes],
        action_items=[item_out(i, review.incident_id, today) for i in items],
    )


async def _document(session: DbSession, review: Review) -> schemas.ReviewDocumentOut:
    doc = await service.review_document(session, review.id)
    items = await service.items_of_review(session, review.id)
    return document_out(review, doc, items, service.today_of(session))


@router.get("/api/v1/incidents/{incident_id}/review", response_model=schemas.ReviewDocumentOut)
async def get_incident_review(
    session: DbSession, _: Reader, incident_id: Id
) -> schemas.ReviewDocumentOut:
    """The incident's review with its whole timeline; 404 if the incident is unknown or has no
    review yet (``POST`` drafts one)."""
    await service.incident_with_service(session, incident_id)
    review = await service.get_review(session, incident_id)
    if review is None:
        raise NotFound(f"incident {incident_id} has no review yet; POST to draft one")
    return await _document(session, review)


@router.post(
    "/api/v1/incidents/{incident_id}/review",
    response_model=schemas.ReviewDocumentOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The incident already had a review: it is returned."}},
)
async def draft_incident_review(
    session: DbSession, principal: Writer, incident_id: Id, response: Response
) -> schemas.ReviewDocumentOut:
    """Draft the incident's review from its timeline (the service's team or an admin); an
    incident that already has one answers it, unchanged."""
    before = await service.get_review(session, incident_id)
    review = await service.draft_review(session, principal, incident_id)
    if before is not None:
        response.status_code = status.HTTP_200_OK
    return await _document(session, review)


@router.get("/api/v1/reviews", response_model=list[schemas.ReviewListItem])
async def list_reviews(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    missing: Annotated[
        bool, Query(description="List the reviews owed (not published) instead.")
    ] = False,
    team_id: Id | None = None,
    service_id: Id | None = None,
    state: ReviewState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[schemas.ReviewListItem]:
    """Reviews, the most recently changed first; with ``missing=true`` the incidents whose
    service's review policy asks for a review that is not published yet, with why and when
    their owner is nudged."""
    if missing:
        owed = await service.owed_reviews(
            session, now=clock.now(), team_id=team_id, service_id=service_id
        )
        return [
            schemas.ReviewListItem(
                incident_id=o.incident.id,
                incident_title=o.incident.title,
                service_id=o.service.id,
                service_name=o.service.name,
                team_id=o.service.team_id,
                resolved_at=o.incident.resolved_at,
                review_id=o.review.id if o.review else None,
                state=o.review.state if o.review else None,
                severity=o.review.severity if o.review else "",
                owner_id=o.owner_id,
                updated_at=o.review.updated_at if o.review else None,
                published_at=None,
                owed=True,
                why=list(o.why),
                nudge_due_at=o.nudge_due_at,
                nudged_at=o.review.nudged_at if o.review else None,
            )
            for o in owed
            if state is None or (o.review is not None and o.review.state is state)
        ][:limit]
    rows = await service.list_reviews(
        session, state=state, team_id=team_id, service_id=service_id, limit=limit
    )
    return [
        schemas.ReviewListItem(
            incident_id=row.incident.id,
            incident_title=row.incident.title,
            service_id=row.service.id,
            service_name=row.service.name,
            team_id=row.service.team_id,
            resolved_at=row.incident.resolved_at,
            review_id=row.review.id,
            state=row.review.state,
            severity=row.review.severity,
            owner_id=row.review.owner_id,
            updated_at=row.review.updated_at,
            published_at=row.review.published_at,
            owed=False,
            why=[],
            nudge_due_at=None,
            nudged_at=row.review.nudged_at,
        )
        for row in rows
    ]


@router.get("/api/v1/reviews/{review_id}", response_model=schemas.ReviewDocumentOut)
async def get_review(session: DbSession, _: Reader, review_id: Id) -> schemas.ReviewDocumentOut:
    return await _document(session, await service.review_by_id(session, review_id))


@router.patch("/api/v1/reviews/{review_id}", response_model=schemas.ReviewOut)
async def update_review(
    session: DbSession, principal: Writer, review_id: Id, body: schemas.ReviewUpdate
) -> schemas.ReviewOut:
    """Edit the review's texts (Markdown), severity or owner; 409 once it is published."""
    return review_out(await service.update_review(session, principal, review_id, body))


@router.post("/api/v1/reviews/{review_id}/state", response_model=schemas.ReviewOut)
async def change_review_state(
    session: DbSession, principal: Writer, review_id: Id, body: schemas.StateChange
) -> schemas.ReviewOut:
    """draft -> in_review -> published (in_review may go back to draft); published is final."""
    return review_out(await service.set_state(session, principal, review_id, body.state))


@router.get(
    "/api/v1/reviews/{review_id}/export.md",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}, "description": "The review as Markdown."}},
)
async def export_review_markdown(session: DbSession, _: Reader, review_id: Id) -> Response:
    doc = await service.review_document(session, review_id)
    return Response(
        export.export_markdown(doc),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="review-{doc.incident.id}.md"'},
    )


@router.get(
    "/api/v1/reviews/{review_id}/export.html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "The review as HTML."}},
)
async def export_review_html(session: DbSession, _: Reader, review_id: Id) -> Response:
    doc = await service.review_document(session, review_id)
    return Response(
        export.export_html(doc),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": EXPORT_CSP,
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="review-{doc.incident.id}.html"',
        },
    )


@router.post(
    "/api/v1/reviews/{review_id}/action-items",
    response_model=schemas.ActionItemOut,
    status_code=status.HTTP_201_CREATED,
)
async def add_action_item(
    session: DbSession, principal: Writer, review_id: Id, body: schemas.ActionItemCreate
) -> schemas.ActionItemOut:
    """Add an action item (published reviews too). A past due date is accepted and flagged
    (``past_due``)."""
    item = await service.add_action_item(session, principal, review_id, body)
    review = await service.review_by_id(session, review_id)
    return item_out(item, review.incident_id, service.today_of(session))


@router.get("/api/v1/action-items", response_model=list[schemas.ActionItemOut])
async def list_action_items(
    session: DbSession,
    principal: Reader,
    owner_id: Annotated[Id | None, Query(description="Default: the caller.")] = None,
    team_id: Annotated[Id | None, Query(description="The team's overdue items instead.")] = None,
) -> list[schemas.ActionItemOut]:
    """A person's open action items (the caller's by default), or a team's overdue ones."""
    today = service.today_of(session)
    if team_id is not None:
        items = await service.overdue_items_for_team(session, team_id, today)
    else:
        items = await service.open_items_for_user(session, owner_id or principal.user_id)
    incidents = await service.incident_of_items(session, items)
    return [item_out(i, incidents[i.review_id], today) for i in items]


@router.patch("/api/v1/action-items/{item_id}", response_model=schemas.ActionItemOut)
async def update_action_item(
    session: DbSession, principal: Writer, item_id: Id, body: schemas.ActionItemUpdate
) -> schemas.ActionItemOut:
    """Change an action item (the service's team, an admin, or the item's owner); a
    published review's items still change."""
    item = await service.update_action_item(session, principal, item_id, body)
    review = await service.review_by_id(session, item.review_id)
    return item_out(item, review.incident_id, service.today_of(session))
