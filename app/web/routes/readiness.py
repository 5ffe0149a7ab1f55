"""Readiness (``/readiness``, ``/services/{id}/readiness``): a service's launch checklist, its
score and history, the hand-over to Ops and the handback to its developers.

Every figure and decision is ``app.readiness.service``'s, called with the signed-in principal,
so the pages show and allow what the API does. A refused write (``Forbidden``, ``Conflict``,
``InvalidInput``) is undone and the readiness page is drawn again with the service's message in
its flash area and the API's status, rather than an error page: the person stays where they
can fix it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import service as catalog
from app.catalog.models import Service, SupportModel
from app.core.errors import BatonError, Conflict, Forbidden, InvalidInput, NotFound
from app.core.session import DbSession
from app.escalation import service as escalation
from app.escalation.models import EscalationPolicy
from app.people.models import TeamKind
from app.readiness import checklist, schemas
from app.readiness import service as readiness
from app.readiness.checklist import ItemKind
from app.readiness.models import HandbackProposal, HandoverRequest
from app.schedules import service as schedules_service
from app.web import timefmt
from app.web.auth import SignedIn, WebReader, WebWriter
from app.web.forms import form_text, validated
from app.web.listing import all_teams, every_page
from app.web.templating import render

router = APIRouter()

BAND_WORDS = {
    checklist.Band.FAILING.value: "failing",
    checklist.Band.NEEDS_ATTENTION.value: "needs attention",
    checklist.Band.PASSING.value: "passing",
}
SUPPORT_WORDS = {SupportModel.DEV.value: "Dev", SupportModel.OPS.value: "Ops"}
DIRECTION_WORDS = {"handover": "Hand-over to Ops", "handback": "Handback to developers"}
TRIGGER_WORDS = {"nightly": "nightly", "on_demand": "on demand", "handover": "hand-over"}
# What a successful write says on the page it leads back to (``?done=``); fixed words only,
# so the address cannot put text of its own on the page.
DONE_WORDS = {
    "evaluated": "Evaluated and kept in the history.",
    "signed": "Signed off.",
    "withdrawn-sign-off": "Sign-off withdrawn.",
    "requested": "Hand-over requested; the Ops team has been told.",
    "accepted": "Hand-over accepted: Ops supports the service now.",
    "declined": "Hand-over declined; both teams have been told.",
    "withdrawn": "Hand-over request withdrawn.",
    "handback-accepted": "Handback accepted: the developers support the service again.",
    "handback-declined": "Handback declined: Ops keeps the service.",
    "handed-back": "Handed back to the developers; both teams have been told.",
}
# The errors a readiness write answers on its own page; anything else is the error page.
PAGE_ERRORS = (Forbidden, Conflict, InvalidInput)


# ------------------------------------------------------------------------- what pages show


@dataclass(frozen=True)
class ItemRow:
    """One checklist item as the page shows it, with its sign-off when it is signed."""

    result: schemas.ResultOut
    sign_off: schemas.SignOffOut | None

    @property
    def signable(self) -> bool:
        return self.result.kind is ItemKind.SIGN_OFF


@dataclass(frozen=True)
class PageError:
    """A refused write: the service's message, and the failing items it names (if any)."""

    status_code: int
    message: str
    failing_keys: list[str]


@dataclass(frozen=True)
class Rights:
    """What the signed-in person may do here (the service decides again on every write)."""

    evaluate: bool
    sign_off: bool
    request_handover: bool
    withdraw_handover: bool
    decide_handover: bool
    override: bool
    decide_handback: bool


def band_words(band: str | None) -> str:
    return BAND_WORDS.get(band or "", band or "not evaluated yet")


def _chart(
    history: list[schemas.EvaluationOut], zone_name: str, now: datetime
) -> list[dict[str, Any]]:
    """The score over time for ``static/metrics_charts.js`` (oldest first), labelled in the
    viewer's zone as the table beside it is."""
    oldest_first = list(reversed(history))
    return [
        {
            "canvas": "readiness-score-chart",
            "kind": "line",
            "labels": [timefmt.local_time(e.evaluated_at, zone_name, now) for e in oldest_first],
            "series": [{"label": "Score", "values": [float(e.score) for e in oldest_first]}],
            "unit": "points",
            "stacked": False,
            "horizontal": False,
        }
    ]


async def _policies(session: AsyncSession, ops_team_id: int | None) -> list[EscalationPolicy]:
    """Every policy, the Ops team's first (the one Accept preselects)."""
    policies = await every_page(lambda page: escalation.list_policies(session, page))
    return sorted(policies, key=lambda p: (p.team_id != ops_team_id, p.name.lower()))


def _rights(
    signed_in: SignedIn,
    service: Service,
    view: schemas.ReadinessOut,
    ops_team_ids: Iterable[int],
) -> Rights:
    principal = signed_in.principal
    writer = principal.can_write
    admin = principal.is_admin
    owners = principal.can_edit_team_resource(service.team_id)
    handover = view.open_handover
    in_ops = writer and (admin or (service.ops_team_id in principal.team_ids))
    return Rights(
        evaluate=writer,
        sign_off=writer
        and (admin or bool({service.team_id, *ops_team_ids} & set(principal.team_ids))),
        request_handover=owners and view.support_model == "dev" and handover is None,
        withdraw_handover=owners and handover is not None,
        decide_handover=handover is not None
        and writer
        and (admin or handover.ops_team_id in principal.team_ids),
        override=admin,
        decide_handback=in_ops,
    )


async def _readiness_page(
    request: Request,
    signed_in: SignedIn,
    session: AsyncSession,
    service_id: int,
    *,
    error: PageError | None = None,
    done: str | None = None,
) -> HTMLResponse:
    view = await readiness.view(session, service_id)
    service = await catalog.get_service(session, service_id)
    teams = {t.id: t for t in await all_teams(session)}
    ops_teams = [t for t in teams.values() if t.kind is TeamKind.OPS]
    ops_team_ids = [view.ops_team_id] if view.ops_team_id is not None else [t.id for t in ops_teams]
    handover = view.open_handover
    requester = handover.requested_by_id if handover else None
    people = await schedules_service.people(session, [requester] if requester else [])
    signed = {s.item_key: s for s in view.sign_offs}
    rows = [ItemRow(r, signed.get(r.key)) for r in view.current.results]
    failing = [r for r in view.current.results if r.key in set(view.failing_required)]
    # The items a refused write names (accepting while they fail), with their evidence now.
    refused_for = (
        [r for r in view.current.results if r.key in set(error.failing_keys)] if error else []
    )
    rights = _rights(signed_in, service, view, ops_team_ids)
    return render(
        request,
        "readiness/service.html",
        {
            "service": service,
            "view": view,
            "team": teams.get(service.team_id),
            "ops_team": teams.get(view.ops_team_id) if view.ops_team_id is not None else None,
            "handover_team": teams.get(handover.ops_team_id) if handover else None,
            "ops_teams": ops_teams,
            "policies": await _policies(session, handover.ops_team_id if handover else None)
            if rights.decide_handover
            else [],
            "people": people,
            "rows": rows,
            "failing": failing,
            "refused_for": refused_for,
            "optional_left": sum(1 for r in view.current.results if not r.required and not r.met),
            "rights": rights,
            "error": error,
            "done": DONE_WORDS.get(done or ""),
            "charts": _chart(view.history, signed_in.viewer.time_zone, view.current.evaluated_at),
            "failing_below": checklist.FAILING_BELOW,
            "band_words": band_words,
            "support_words": SUPPORT_WORDS,
            "direction_words": DIRECTION_WORDS,
            "trigger_words": TRIGGER_WORDS,
        },
        status_code=error.status_code if error else 200,
    )


def _back(service_id: int, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(
        f"/services/{service_id}/readiness?done={done}" + (f"#{anchor}" if anchor else ""),
        status_code=303,
    )


async def _answer(
    request: Request,
    signed_in: SignedIn,
    session: AsyncSession,
    service_id: int,
    write: Callable[[], Awaitable[object]],
    done: str,
    anchor: str = "",
) -> Response:
    """Run the write; a refusal is undone and said on the readiness page, with its status."""
    try:
        await write()
    except PAGE_ERRORS as exc:
        await session.rollback()
        return await _readiness_page(
            request, signed_in, session, service_id, error=_page_error(exc)
        )
    return _back(service_id, done, anchor)


def _page_error(exc: BatonError) -> PageError:
    keys = exc.extra.get("failing_items") or []
    return PageError(exc.status_code, exc.detail, [str(k) for k in keys])


async def _request_of(session: AsyncSession, service_id: int, request_id: int) -> HandoverRequest:
    request = await session.get(HandoverRequest, request_id)
    if request is None or request.service_id != service_id:
        raise NotFound(f"hand-over request {request_id} not found for service {service_id}")
    return request


async def _proposal_of(
    session: AsyncSession, service_id: int, proposal_id: int
) -> HandbackProposal:
    proposal = await session.get(HandbackProposal, proposal_id)
    if proposal is None or proposal.service_id != service_id:
        raise NotFound(f"handback proposal {proposal_id} not found for service {service_id}")
    return proposal


# ------------------------------------------------------------------------------------ pages


@router.get("/readiness")
async def overview_page(request: Request, signed_in: WebReader, session: DbSession) -> HTMLResponse:
    rows = await readiness.overview(session)
    teams = {t.id: t for t in await all_teams(session)}
    return render(
        request,
        "readiness/overview.html",
        {
            "rows": rows,
            "teams": teams,
            "band_words": band_words,
            "support_words": SUPPORT_WORDS,
            "failing_below": checklist.FAILING_BELOW,
        },
    )


@router.get("/services/{service_id}/readiness")
async def service_readiness(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    service_id: int,
    done: str | None = None,
) -> HTMLResponse:
    return await _readiness_page(request, signed_in, session, service_id, done=done)


# ------------------------------------------------------------------------------------ writes


@router.post("/services/{service_id}/readiness/evaluate")
async def evaluate_now(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int
) -> Response:
    async def write() -> object:
        return await readiness.evaluate_and_store(session, signed_in.principal, service_id)

    return await _answer(
        request, signed_in, session, service_id, write, "evaluated", "readiness-history"
    )


@router.post("/services/{service_id}/readiness/sign-offs/{item_key}")
async def sign_off(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int, item_key: str
) -> Response:
    form = await request.form()

    async def write() -> object:
        data = validated(schemas.SignOffIn, {"comment": form_text(form, "comment")})
        return await readiness.sign_off(
            session, signed_in.principal, service_id, item_key, comment=data.comment
        )

    return await _answer(
        request, signed_in, session, service_id, write, "signed", f"item-{item_key}"
    )


@router.post("/services/{service_id}/readiness/sign-offs/{item_key}/withdraw")
async def withdraw_sign_off(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int, item_key: str
) -> Response:
    async def write() -> object:
        await readiness.withdraw_sign_off(session, signed_in.principal, service_id, item_key)
        return None

    return await _answer(
        request, signed_in, session, service_id, write, "withdrawn-sign-off", f"item-{item_key}"
    )


@router.post("/services/{service_id}/readiness/handover")
async def request_handover(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int
) -> Response:
    form = await request.form()

    async def write() -> object:
        data = validated(
            schemas.HandoverIn,
            {
                "ops_team_id": form_text(form, "ops_team_id") or None,
                "note": form_text(form, "note"),
            },
        )
        return await readiness.request_handover(
            session, signed_in.principal, service_id, ops_team_id=data.ops_team_id, note=data.note
        )

    return await _answer(
        request, signed_in, session, service_id, write, "requested", "readiness-handover"
    )


@router.post("/services/{service_id}/readiness/handover/{request_id}/accept")
async def accept_handover(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int, request_id: int
) -> Response:
    form = await request.form()
    await _request_of(session, service_id, request_id)

    async def write() -> object:
        data = validated(
            schemas.HandoverAcceptIn,
            {
                "escalation_policy_id": form_text(form, "escalation_policy_id") or None,
                "keep_developers": form_text(form, "keep_developers") == "yes",
                "override_reason": form_text(form, "override_reason"),
            },
        )
        return await readiness.accept_handover(
            session,
            signed_in.principal,
            request_id,
            escalation_policy_id=data.escalation_policy_id,
            keep_developers=data.keep_developers,
            override_reason=data.override_reason,
        )

    return await _answer(
        request, signed_in, session, service_id, write, "accepted", "readiness-handover"
    )


@router.post("/services/{service_id}/readiness/handover/{request_id}/decline")
async def decline_handover(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int, request_id: int
) -> Response:
    form = await request.form()
    await _request_of(session, service_id, request_id)

    async def write() -> object:
        data = validated(schemas.DecisionIn, {"reason": form_text(form, "reason")})
        return await readiness.decline_handover(
            session, signed_in.principal, request_id, reason=data.reason
        )

    return await _answer(
        request, signed_in, session, service_id, write, "declined", "readiness-handover"
    )


@router.post("/services/{service_id}/readiness/handover/{request_id}/withdraw")
async def withdraw_handover(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int, request_id: int
) -> Response:
    await _request_of(session, service_id, request_id)

    async def write() -> object:
        return await readiness.withdraw_handover(session, signed_in.principal, request_id)

    return await _answer(
        request, signed_in, session, service_id, write, "withdrawn", "readiness-handover"
    )


@router.post("/services/{service_id}/readiness/handback/{proposal_id}/accept")
async def accept_handback(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int, proposal_id: int
) -> Response:
    form = await request.form()
    await _proposal_of(session, service_id, proposal_id)

    async def write() -> object:
        data = validated(schemas.DecisionIn, {"reason": form_text(form, "reason")})
        return await readiness.accept_handback(
            session, signed_in.principal, proposal_id, reason=data.reason
        )

    return await _answer(
        request, signed_in, session, service_id, write, "handback-accepted", "handback"
    )


@router.post("/services/{service_id}/readiness/handback/{proposal_id}/decline")
async def decline_handback(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int, proposal_id: int
) -> Response:
    form = await request.form()
    await _proposal_of(session, service_id, proposal_id)

    async def write() -> object:
        data = validated(schemas.DecisionIn, {"reason": form_text(form, "reason")})
        return await readiness.decline_handback(
            session, signed_in.principal, proposal_id, reason=data.reason
        )

    return await _answer(
        request, signed_in, session, service_id, write, "handback-declined", "handback"
    )


@router.post("/services/{service_id}/readiness/hand-back")
async def hand_back(
    request: Request, signed_in: WebWriter, session: DbSession, service_id: int
) -> Response:
    form = await request.form()

    async def write() -> object:
        # The API's body: a reason is required (HandbackIn), said as the API says it.
        data = validated(schemas.HandbackIn, {"reason": form_text(form, "reason")})
        return await readiness.hand_back(
            session, signed_in.principal, service_id, reason=data.reason
        )

    return await _answer(
        request, signed_in, session, service_id, write, "handed-back", "readiness-handback"
    )
