"""Who is on call now (``/``), the home page. A first version: every schedule, who has it,
until when and who is next."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.core.session import ClockDep, DbSession
from app.schedules import oncall_queries
from app.web.auth import WebReader
from app.web.templating import render

router = APIRouter()


@router.get("/")
async def on_call_now(
    request: Request, signed_in: WebReader, session: DbSession, clock: ClockDep
) -> HTMLResponse:
    answers = await oncall_queries.who_is_on_call(session, None, clock.now())
    return render(request, "oncall/now.html", {"schedules": answers})
