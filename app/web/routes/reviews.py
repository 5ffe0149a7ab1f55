"""Incident reviews (``/reviews``, ``/incidents/{id}/review``): the reviews owed first, then
drafts, reviews in review and published ones; one incident's review with its edit form, its
state buttons, its Markdown and HTML exports and its action items.

Every read and write calls what the API's routes call (``app/review/service.py``) with the
signed-in principal, so the page may do exactly what that person's token may: the service's
team and admins write a review; an action item's owner may also complete it. What responders
write is Markdown, kept as written; the page shows it rendered and sanitized by the export's
own sanitizer (``app/review/export.sanitize``), so HTML in review text is never executed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.core.session import ClockDep, DbSession
from app.people.models import User
from app.review import draft as drafting
from app.review import export
from app.review import service as reviews
from app.review.models import ActionItem, ActionStatus, Review, ReviewState, Severity
from app.review.schemas import ActionItemCreate, ActionItemUpdate, ReviewUpdate, StateChange
from app.schedules import service as schedules_service
from app.web.auth import SignedIn, WebReader, WebWriter
from app.web.forms import form_text, validated
from app.web.listing import everyone
from app.web.templating import render

router = APIRouter()

LIST_LIMIT = 100
STATE_WORDS = {
    ReviewState.DRAFT: "Draft",
    ReviewState.IN_REVIEW: "In review",
    ReviewState.PUBLISHED: "Published",
}
SEVERITY_WORDS = {
    Severity.NONE: "Not set",
    Severity.SEV1: "SEV1",
    Severity.SEV2: "SEV2",
    Severity.SEV3: "SEV3",
    Severity.SEV4: "SEV4",
}
# The buttons each state offers: (the state it moves to, the button's words).
STATE_BUTTONS: dict[ReviewState, tuple[tuple[ReviewState, str], ...]] = {
    ReviewState.DRAFT: ((ReviewState.IN_REVIEW, "Send for review"),),
    ReviewState.IN_REVIEW: (
        (ReviewState.PUBLISHED, "Publish"),
        (ReviewState.DRAFT, "Back to draft"),
    ),
    ReviewState.PUBLISHED: (),
}
# The texts a responder writes, in the order a review reads (the export's order and headings).
SECTIONS = export.SECTIONS
SECTION_HINTS = {
    "summary": "What happened, in a few sentences.",
    "customer_impact": "Who noticed, what they could not do, for how long.",
    "root_cause": "Why it happened.",
    "contributing_factors": "What made it worse or slower to fix.",
    "went_well": "",
    "went_badly": "",
    "lessons": "",
}
ITEM_MOVES = {
    "done": (ActionStatus.DONE, "Mark done"),
    "open": (ActionStatus.OPEN, "Reopen"),
    "cancelled": (ActionStatus.CANCELLED, "Cancel"),
}

# The export's Markdown dialect (CommonMark with tables; raw HTML is handed to the sanitizer,
# which keeps only its harmless part), so a text reads the same on the page and in the export.
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table")


def rendered(text: str) -> Markup:
    """A responder's Markdown as HTML, through the export's sanitizer."""
    return Markup(export.sanitize(_MARKDOWN.render(text)))  # noqa: S704 (sanitized by nh3)


async def _people(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, User]:
    return await schedules_service.people(session, {i for i in ids if i is not None})


# ------------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class ListedReview:
    review: Review
    incident_id: int
    incident_title: str
    service_name: str
    owner: User | None


@router.get("/reviews")
async def reviews_page(
    request: Request, signed_in: WebReader, session: DbSession, clock: ClockDep
) -> HTMLResponse:
    owed = await reviews.owed_reviews(session, now=clock.now())
    listed = {
        state: await reviews.list_reviews(session, state=state, limit=LIST_LIMIT)
        for state in ReviewState
    }
    people = await _people(
        session,
        [o.owner_id for o in owed] + [r.review.owner_id for rows in listed.values() for r in rows],
    )
    groups = [
        (
            state,
            [
                ListedReview(
                    row.review,
                    row.incident.id,
                    row.incident.title,
                    row.service.name,
                    people.get(row.review.owner_id or 0),
                )
                for row in rows
            ],
        )
        for state, rows in listed.items()
    ]
    return render(
        request,
        "reviews/list.html",
        {
            "owed": owed,
            "groups": groups,
            "people": people,
            "state_words": STATE_WORDS,
            "severity_words": SEVERITY_WORDS,
            "list_limit": LIST_LIMIT,
        },
    )


# ------------------------------------------------------------------------- one review


def _can_complete(signed_in: SignedIn, item_owner_id: int | None, can_edit: bool) -> bool:
    """Who may mark an item done: whoever edits the review, and the item's own owner."""
    principal = signed_in.principal
    return can_edit or (principal.can_write and item_owner_id == principal.user_id)


@router.get("/incidents/{incident_id}/review")
async def review_page(
    request: Request, signed_in: WebReader, session: DbSession, incident_id: int
) -> HTMLResponse:
    incident, service = await reviews.incident_with_service(session, incident_id)
    review = await reviews.get_review(session, incident_id)
    can_edit = signed_in.principal.can_edit_team_resource(service.team_id)
    context: dict[str, Any] = {
        "incident": incident,
        "service": service,
        "review": review,
        "can_edit": can_edit,
        "state_words": STATE_WORDS,
        "severity_words": SEVERITY_WORDS,
    }
    if review is None:
        return render(request, "reviews/review.html", {**context, "doc": None})
    doc = await reviews.review_document(session, review.id)
    state = ReviewState(doc.review.state)
    return render(
        request,
        "reviews/review.html",
        {
            **context,
            "doc": doc,
            "state": state,
            "read_only": state is ReviewState.PUBLISHED or not can_edit,
            "state_buttons": STATE_BUTTONS[state] if can_edit else (),
            "sections": [
                (key, heading, getattr(doc.review, key), rendered(getattr(doc.review, key)))
                for key, heading in SECTIONS
            ],
            "hints": SECTION_HINTS,
            "severities": list(Severity),
            "people": await everyone(session) if can_edit else [],
            "items": [
                (item, _can_complete(signed_in, item.owner_id, can_edit))
                for item in doc.action_items
            ],
            "item_moves": ITEM_MOVES,
            "verdict_words": export.VERDICT_WORDS,
            "minutes": drafting.minutes,
        },
    )


async def _review_of(session: AsyncSession, incident_id: int) -> Review:
    await reviews.incident_with_service(session, incident_id)  # 404 for an unknown incident
    review = await reviews.get_review(session, incident_id)
    if review is None:
        raise NotFound(f"incident {incident_id} has no review yet")
    return review


def _back(incident_id: int, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(
        f"/incidents/{incident_id}/review{'#' + anchor if anchor else ''}", status_code=303
    )


@router.post("/incidents/{incident_id}/review")
async def draft_review(
    request: Request, signed_in: WebWriter, session: DbSession, incident_id: int
) -> Response:
    await reviews.draft_review(session, signed_in.principal, incident_id)
    return _back(incident_id)


def _markdown_field(form: Mapping[str, Any], name: str) -> str:
    # Browsers send a text area's line breaks as CRLF; Markdown is kept with plain LF.
    return form_text(form, name).replace("\r\n", "\n").replace("\r", "\n")


@router.post("/incidents/{incident_id}/review/edit")
async def update_review(
    request: Request, signed_in: WebWriter, session: DbSession, incident_id: int
) -> Response:
    review = await _review_of(session, incident_id)
    form = await request.form()
    fields: dict[str, Any] = {key: _markdown_field(form, key) for key, _ in SECTIONS if key in form}
    if "severity" in form:
        fields["severity"] = form_text(form, "severity")
    if "owner_id" in form:
        fields["owner_id"] = form_text(form, "owner_id") or None
    changes = validated(ReviewUpdate, fields)
    await reviews.update_review(session, signed_in.principal, review.id, changes)
    return _back(incident_id)


@router.post("/incidents/{incident_id}/review/state")
async def change_state(
    request: Request, signed_in: WebWriter, session: DbSession, incident_id: int
) -> Response:
    review = await _review_of(session, incident_id)
    form = await request.form()
    change = validated(StateChange, {"state": form_text(form, "state")})
    await reviews.set_state(session, signed_in.principal, review.id, change.state)
    return _back(incident_id)


def _export_name(incident_id: int, suffix: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="incident-{incident_id}-review.{suffix}"'}


@router.get("/incidents/{incident_id}/review/export.md")
async def export_markdown(
    request: Request, signed_in: WebReader, session: DbSession, incident_id: int
) -> Response:
    review = await _review_of(session, incident_id)
    doc = await reviews.review_document(session, review.id)
    return PlainTextResponse(
        export.export_markdown(doc),
        media_type="text/markdown; charset=utf-8",
        headers=_export_name(incident_id, "md"),
    )


@router.get("/incidents/{incident_id}/review/export.html")
async def export_html(
    request: Request, signed_in: WebReader, session: DbSession, incident_id: int
) -> Response:
    """A download, not a page of ours: what a team pastes into its wiki."""
    review = await _review_of(session, incident_id)
    doc = await reviews.review_document(session, review.id)
    return Response(
        export.export_html(doc),
        media_type="text/html; charset=utf-8",
        headers=_export_name(incident_id, "html"),
    )


# ------------------------------------------------------------------------------ action items


@router.post("/incidents/{incident_id}/review/items")
async def add_item(
    request: Request, signed_in: WebWriter, session: DbSession, incident_id: int
) -> Response:
    review = await _review_of(session, incident_id)
    form = await request.form()
    item = validated(
        ActionItemCreate,
        {
            "title": form_text(form, "title"),
            "owner_id": form_text(form, "owner_id") or None,
            "due_date": form_text(form, "due_date") or None,
            "tracker_url": form_text(form, "tracker_url"),
        },
    )
    await reviews.add_action_item(session, signed_in.principal, review.id, item)
    return _back(incident_id, "action-items")


async def _item_of(session: AsyncSession, incident_id: int, item_id: int) -> ActionItem:
    """The item, when it belongs to this incident's review (another review's is not here)."""
    review = await _review_of(session, incident_id)
    item = await reviews.action_item_by_id(session, item_id)
    if item.review_id != review.id:
        raise NotFound(f"action item {item_id} not found")
    return item


@router.post("/incidents/{incident_id}/review/items/{item_id}/status")
async def move_item(
    request: Request, signed_in: WebWriter, session: DbSession, incident_id: int, item_id: int
) -> Response:
    item = await _item_of(session, incident_id, item_id)
    form = await request.form()
    change = validated(ActionItemUpdate, {"status": form_text(form, "status")})
    await reviews.update_action_item(session, signed_in.principal, item.id, change)
    if form_text(form, "back") == "me":
        return RedirectResponse("/me#action-items", status_code=303)
    return _back(incident_id, "action-items")


# ------------------------------------------------------------------- "My on-call"'s part


@dataclass(frozen=True)
class MyItem:
    item: ActionItem
    incident_id: int | None
    past_due: bool
    due_today: bool


async def my_open_items(session: AsyncSession, user_id: int) -> list[MyItem]:
    """The person's open action items, the soonest due first, with the incident of each."""
    items = await reviews.open_items_for_user(session, user_id)
    incidents = await reviews.incident_of_items(session, items)
    today: date = reviews.today_of(session)
    return [
        MyItem(
            item,
            incidents.get(item.review_id),
            reviews.past_due(item, today),
            item.due_date == today,
        )
        for item in items
    ]
