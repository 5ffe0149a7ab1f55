"""Incident reviews and their action items: drafting, editing, states, the reviews owed.

A review is drafted from the incident's typed events (``draft.fold``); what the responders
write is stored, the timeline is not: :func:`review_document` folds it again when read, so a
note added after the draft still shows. States go draft -> in review -> published (and back
from in review to draft); a published review is read-only except for its action items. The
service's team members and admins edit; everyone else reads. Operations run in the caller's
transaction and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Service
from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import Conflict, InvalidInput, NotFound
from app.deploys.models import CauseVerdict, Deployment, IncidentDeploy
from app.incidents import timeline
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident
from app.people.models import Urgency, User
from app.review import draft as drafting
from app.review.models import ActionItem, ActionStatus, Review, ReviewState
from app.review.schemas import ActionItemCreate, ActionItemUpdate, ReviewUpdate

# Where a review may go from each state; a published review goes nowhere.
_MOVES: dict[ReviewState, frozenset[ReviewState]] = {
    ReviewState.DRAFT: frozenset({ReviewState.IN_REVIEW}),
    ReviewState.IN_REVIEW: frozenset({ReviewState.DRAFT, ReviewState.PUBLISHED}),
    ReviewState.PUBLISHED: frozenset(),
}
# The most timeline rows a review folds (a storm's incident can have many notifications).
TIMELINE_LIMIT = 5000


# ----------------------------------------------------------------------------------- reading


async def incident_with_service(
    session: AsyncSession, incident_id: int
) -> tuple[Incident, Service]:
    row = (
        await session.execute(
            select(Incident, Service)
            .join(Service, Service.id == Incident.service_id)
            .where(Incident.id == incident_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"incident {incident_id} not found")
    return row[0], row[1]


async def get_review(session: AsyncSession, incident_id: int) -> Review | None:
    """The review of an incident, if one was drafted."""
    return await session.scalar(select(Review).where(Review.incident_id == incident_id))


async def review_by_id(session: AsyncSession, review_id: int) -> Review:
    review = await session.get(Review, review_id)
    if review is None:
        raise NotFound(f"review {review_id} not found")
    return review


async def _review_with_service(
    session: AsyncSession, review_id: int
) -> tuple[Review, Incident, Service]:
    review = await review_by_id(session, review_id)
    incident, service = await incident_with_service(session, review.incident_id)
    return review, incident, service


async def fold_incident(session: AsyncSession, incident_id: int) -> drafting.Draft:
    """The draft the incident's timeline folds into now."""
    rows = await timeline.events_for(session, incident_id, limit=TIMELINE_LIMIT)
    return drafting.fold(
        drafting.Recorded(
            at=row.at, kind=row.kind, event=timeline.typed(row), message=row.message or ""
        )
        for row in rows
    )


async def _names(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}


def today_of(session: AsyncSession) -> date:
    return session_clock(session).now().date()


def past_due(item: ActionItem, today: date) -> bool:
    """Open with a due date before ``today``: allowed, and flagged wherever it is shown."""
    return item.status is ActionStatus.OPEN and item.due_date is not None and item.due_date < today


async def items_of_review(session: AsyncSession, review_id: int) -> list[ActionItem]:
    return list(
        await session.scalars(
            select(ActionItem).where(ActionItem.review_id == review_id).order_by(ActionItem.id)
        )
    )


async def linked_deploys(
    session: AsyncSession, incident_id: int
) -> list[tuple[IncidentDeploy, Deployment]]:
    rows = await session.execute(
        select(IncidentDeploy, Deployment)
        .join(Deployment, Deployment.id == IncidentDeploy.deployment_id)
        .where(IncidentDeploy.incident_id == incident_id)
        .order_by(Deployment.started_at.desc(), Deployment.id.desc())
    )
    return [(link, deployment) for link, deployment in rows]


async def review_document(session: AsyncSession, review_id: int) -> drafting.ReviewDocument:
    """Everything a review page or export shows: the review, the incident, its whole timeline
    folded (pages, acknowledgements, escalations, reassignments, resolution, alerts with their
    labels, notes), the deploys it opened after with their verdicts, and the action items."""
    review, incident, service = await _review_with_service(session, review_id)
    folded = await fold_incident(session, incident.id)
    items = await items_of_review(session, review.id)
    deploys = await linked_deploys(session, incident.id)
    names = await _names(
        session,
        [
            review.owner_id,
            review.published_by_id,
            *(i.owner_id for i in items),
            *(d.deployer_user_id for _, d in deploys),
        ],
    )
    today = today_of(session)
    return drafting.ReviewDocument(
        review=drafting.ReviewView(
            id=review.id,
            incident_id=review.incident_id,
            state=review.state.value,
            severity=review.severity.value,
            summary=review.summary,
            customer_impact=review.customer_impact,
            root_cause=review.root_cause,
            contributing_factors=review.contributing_factors,
            went_well=review.went_well,
            went_badly=review.went_badly,
            lessons=review.lessons,
            owner_id=review.owner_id,
            owner_name=names.get(review.owner_id or 0, ""),
            created_at=review.created_at,
            updated_at=review.updated_at,
            published_at=review.published_at,
            published_by_name=names.get(review.published_by_id or 0, ""),
        ),
        incident=drafting.IncidentView(
            id=incident.id,
            title=incident.title,
            service_id=service.id,
            service_name=service.name,
            team_id=service.team_id,
            urgency=incident.urgency.value,
            state=incident.state.value,
            opened_at=incident.created_at,
            acknowledged_at=incident.acknowledged_at,
            resolved_at=incident.resolved_at,
        ),
        draft=folded,
        deploys=tuple(
            drafting.DeployView(
                deployment_id=deployment.id,
                version=deployment.version,
                previous_version=deployment.previous_version,
                environment=deployment.environment,
                deployer=names.get(deployment.deployer_user_id or 0, deployment.deployer_name),
                status=deployment.status.value,
                started_at=deployment.started_at,
                finished_at=deployment.finished_at,
                commit_sha=deployment.commit_sha,
                minutes_after_deploy=link.minutes_after_deploy,
                verdict=link.verdict.value,
                judged_at=link.judged_at,
            )
            for link, deployment in deploys
        ),
        action_items=tuple(
            drafting.ItemView(
                id=item.id,
                title=item.title,
                owner_id=item.owner_id,
                owner_name=names.get(item.owner_id or 0, ""),
                due_date=item.due_date,
                status=item.status.value,
                tracker_url=item.tracker_url,
                past_due=past_due(item, today),
            )
            for item in items
        ),
    )


@dataclass(frozen=True)
class ReviewRow:
    review: Review
    incident: Incident
    service: Service


async def list_reviews(
    session: AsyncSession,
    *,
    state: ReviewState | None = None,
    team_id: int | None = None,
    service_id: int | None = None,
    limit: int = 100,
) -> list[ReviewRow]:
    """Reviews, the most recently changed first."""
    stmt = (
        select(Review, Incident, Service)
        .join(Incident, Incident.id == Review.incident_id)
        .join(Service, Service.id == Incident.service_id)
    )
    if state is not None:
        stmt = stmt.where(Review.state == state)
    if team_id is not None:
        stmt = stmt.where(Service.team_id == team_id)
    if service_id is not None:
        stmt = stmt.where(Service.id == service_id)
    rows = await session.execute(
        stmt.order_by(Review.updated_at.desc(), Review.id.desc()).limit(limit)
    )
    return [ReviewRow(r, i, s) for r, i, s in rows]


# ---------------------------------------------------------------------------------- drafting


def default_owner(incident: Incident) -> int | None:
    """Who writes the review unless someone else is named: whoever acknowledged the incident,
    else whoever resolved it."""
    return incident.acknowledged_by_id or incident.resolved_by_id


async def ensure_review(session: AsyncSession, incident: Incident) -> tuple[Review, bool]:
    """The incident's review, drafted from its events if it has none; True when drafted now.
    Two callers drafting at once (a person and the nudge job) end with one review."""
    known = await get_review(session, incident.id)
    if known is not None:
        return known, False
    folded = await fold_incident(session, incident.id)
    review = Review(
        incident_id=incident.id,
        state=ReviewState.DRAFT,
        summary=drafting.opening_summary(folded),
        owner_id=default_owner(incident),
    )
    try:
        async with session.begin_nested():
            session.add(review)
            await session.flush()
    except IntegrityError:
        known = await get_review(session, incident.id)
        if known is None:
            raise
        return known, False
    return review, True


async def draft_review(session: AsyncSession, principal: Principal, incident_id: int) -> Review:
    """The incident's review, drafted from its typed events if there is none yet."""
    incident, service = await incident_with_service(session, incident_id)
    principal.require_team_write(service.team_id, "this service's reviews")
    review, _ = await ensure_review(session, incident)
    return review


async def _require_user(session: AsyncSession, user_id: int, field: str) -> None:
    if await session.get(User, user_id) is None:
        raise InvalidInput(f"user {user_id} not found", field=field)


async def update_review(
    session: AsyncSession, principal: Principal, review_id: int, data: ReviewUpdate
) -> Review:
    review, _, service = await _review_with_service(session, review_id)
    principal.require_team_write(service.team_id, "this service's reviews")
    if review.state is ReviewState.PUBLISHED:
        raise Conflict(
            "the review is published and read-only; only its action items can change",
            state=review.state.value,
        )
    changes = data.model_dump(exclude_unset=True)
    if changes.get("owner_id") is not None:
        await _require_user(session, changes["owner_id"], "body.owner_id")
    for key, value in changes.items():
        setattr(review, key, value)
    await session.flush()
    return review


async def set_state(
    session: AsyncSession, principal: Principal, review_id: int, state: ReviewState
) -> Review:
    """Move a review on: draft -> in review -> published (or back from in review to draft)."""
    review, _, service = await _review_with_service(session, review_id)
    principal.require_team_write(service.team_id, "this service's reviews")
    if state is review.state:
        return review
    if state not in _MOVES[review.state]:
        if review.state is ReviewState.PUBLISHED:
            detail = "the review is published and read-only"
        elif state is ReviewState.PUBLISHED:
            detail = "a draft is published after review: move it to in_review first"
        else:
            detail = f"a review cannot go from {review.state.value} to {state.value}"
        raise Conflict(detail, state=review.state.value)
    review.state = state
    if state is ReviewState.PUBLISHED:
        review.published_at = session_clock(session).now()
        review.published_by_id = principal.user_id
    await session.flush()
    return review


# ------------------------------------------------------------------------------ action items


async def add_action_item(
    session: AsyncSession, principal: Principal, review_id: int, data: ActionItemCreate
) -> ActionItem:
    """A new action item; a published review still takes them. A due date in the past is
    accepted (the item is flagged past due)."""
    review, _, service = await _review_with_service(session, review_id)
    principal.require_team_write(service.team_id, "this service's reviews")
    if data.owner_id is not None:
        await _require_user(session, data.owner_id, "body.owner_id")
    item = ActionItem(
        review_id=review.id,
        title=data.title,
        owner_id=data.owner_id,
        due_date=data.due_date,
        status=ActionStatus.OPEN,
        tracker_url=data.tracker_url,
    )
    session.add(item)
    await session.flush()
    return item


async def action_item_by_id(session: AsyncSession, item_id: int) -> ActionItem:
    item = await session.get(ActionItem, item_id)
    if item is None:
        raise NotFound(f"action item {item_id} not found")
    return item


async def update_action_item(
    session: AsyncSession, principal: Principal, item_id: int, data: ActionItemUpdate
) -> ActionItem:
    """Change an action item: the service's team and admins, or the item's own owner (who may
    sit in another team)."""
    item = await action_item_by_id(session, item_id)
    _, _, service = await _review_with_service(session, item.review_id)
    principal.require_write()
    if not (principal.can_write and item.owner_id == principal.user_id):
        principal.require_team_write(service.team_id, "this service's action items")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("owner_id") is not None:
        await _require_user(session, changes["owner_id"], "body.owner_id")
    now = session_clock(session).now()
    if "due_date" in changes and changes["due_date"] != item.due_date:
        # A new date is a new pair of reminders.
        item.due_reminded_at = item.overdue_reminded_at = None
    status = changes.get("status")
    if status is not None and status is not item.status:
        item.completed_at = now if status is ActionStatus.DONE else None
    for key, value in changes.items():
        setattr(item, key, value)
    await session.flush()
    return item


async def incident_of_items(session: AsyncSession, items: Sequence[ActionItem]) -> dict[int, int]:
    """The incident id of each item's review, by review id."""
    ids = {i.review_id for i in items}
    if not ids:
        return {}
    rows = await session.execute(select(Review.id, Review.incident_id).where(Review.id.in_(ids)))
    return {review_id: incident_id for review_id, incident_id in rows}


async def open_items_for_user(session: AsyncSession, user_id: int) -> list[ActionItem]:
    """A person's open action items, the soonest due first (undated last)."""
    rows = await session.scalars(
        select(ActionItem)
        .where(ActionItem.owner_id == user_id, ActionItem.status == ActionStatus.OPEN)
        .order_by(ActionItem.due_date.is_(None), ActionItem.due_date, ActionItem.id)
    )
    return list(rows)


async def overdue_items_for_team(
    session: AsyncSession, team_id: int, today: date
) -> list[ActionItem]:
    """Open action items of the team's services' reviews that were due before ``today``."""
    return await overdue_items(session, today, team_id=team_id)


async def overdue_items(
    session: AsyncSession, today: date, *, team_id: int | None = None, service_id: int | None = None
) -> list[ActionItem]:
    """Open action items due before ``today`` of the reviews of a team's services, or of one
    service's."""
    stmt = (
        select(ActionItem)
        .join(Review, Review.id == ActionItem.review_id)
        .join(Incident, Incident.id == Review.incident_id)
        .join(Service, Service.id == Incident.service_id)
        .where(
            ActionItem.status == ActionStatus.OPEN,
            ActionItem.due_date.is_not(None),
            ActionItem.due_date < today,
        )
        .order_by(ActionItem.due_date, ActionItem.id)
    )
    if team_id is not None:
        stmt = stmt.where(Service.team_id == team_id)
    if service_id is not None:
        stmt = stmt.where(Service.id == service_id)
    return list(await session.scalars(stmt))


# ------------------------------------------------------------------------- the reviews owed


@dataclass(frozen=True)
class OwedReview:
    """An incident the service's policy says needs a review, not published yet."""

    incident: Incident
    service: Service
    review: Review | None
    why: tuple[str, ...]
    owner_id: int | None
    nudge_due_at: datetime
    nudge_due: bool  # the nudge is due now and has not gone out


def _open_minutes(incident: Incident) -> int:
    assert incident.resolved_at is not None
    return int((incident.resolved_at - incident.created_at).total_seconds() // 60)


async def owed_reviews(
    session: AsyncSession,
    *,
    now: datetime,
    team_id: int | None = None,
    service_id: int | None = None,
) -> list[OwedReview]:
    """Resolved incidents whose service asks for a review (high urgency and open longer than
    its ``review_after_minutes``, or linked to a deploy nobody judged unrelated) that has not
    been published, the longest owed first."""
    linked = exists().where(
        IncidentDeploy.incident_id == Incident.id,
        IncidentDeploy.verdict != CauseVerdict.REJECTED,
    )
    stmt = (
        select(Incident, Service, Review)
        .join(Service, Service.id == Incident.service_id)
        .outerjoin(Review, Review.incident_id == Incident.id)
        .where(
            Incident.state == IncidentState.RESOLVED,
            Incident.resolved_at.is_not(None),
            (Review.id.is_(None)) | (Review.state != ReviewState.PUBLISHED),
            (Incident.urgency == Urgency.HIGH) | linked,
        )
    )
    if team_id is not None:
        stmt = stmt.where(Service.team_id == team_id)
    if service_id is not None:
        stmt = stmt.where(Service.id == service_id)
    rows = (await session.execute(stmt.order_by(Incident.resolved_at, Incident.id))).all()
    versions: dict[int, list[str]] = {}
    if rows:
        deploy_rows = await session.execute(
            select(IncidentDeploy.incident_id, Deployment.version)
            .join(Deployment, Deployment.id == IncidentDeploy.deployment_id)
            .where(
                IncidentDeploy.incident_id.in_([i.id for i, _, _ in rows]),
                IncidentDeploy.verdict != CauseVerdict.REJECTED,
            )
            .order_by(Deployment.started_at)
        )
        for incident_id, version in deploy_rows:
            versions.setdefault(incident_id, []).append(version)
    owed = []
    for incident, service, review in rows:
        why = []
        open_for = _open_minutes(incident)
        if incident.urgency is Urgency.HIGH and open_for > service.review_after_minutes:
            why.append(
                f"high urgency and open {open_for} min (the service asks for a review after "
                f"{service.review_after_minutes} min)"
            )
        why += [f"opened after deploy {version}" for version in versions.get(incident.id, [])]
        if not why:
            continue
        assert incident.resolved_at is not None
        due_at = incident.resolved_at + timedelta(days=service.review_nudge_days)
        owed.append(
            OwedReview(
                incident=incident,
                service=service,
                review=review,
                why=tuple(why),
                owner_id=review.owner_id if review is not None else default_owner(incident),
                nudge_due_at=due_at,
                nudge_due=due_at <= now and (review is None or review.nudged_at is None),
            )
        )
    return owed
