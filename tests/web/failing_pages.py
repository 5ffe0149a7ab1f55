"""Pages that exist only in tests: each fails in one way, as real pages will."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.core.errors import Conflict, NotFound
from app.web.auth import WebReader, WebWriter
from app.web.templating import render

TEST_PAGES = "/test-pages"
failing_pages_router = APIRouter(prefix=TEST_PAGES)


@failing_pages_router.get("/incidents/{incident_id}")
async def incident(request: Request, signed_in: WebReader, incident_id: int) -> HTMLResponse:
    if incident_id != 61:
        raise NotFound(f"incident {incident_id} not found")
    return render(
        request,
        "error.html",
        {
            "status_code": 200,
            "title": f"Incident {incident_id}",
            "message": "found",
            "code": "ok",
            "request_id": None,
            "back": "/",
        },
    )


@failing_pages_router.post("/incidents/{incident_id}/acknowledge")
async def acknowledge(request: Request, signed_in: WebWriter, incident_id: int) -> HTMLResponse:
    raise Conflict(f"incident {incident_id} is already resolved")


@failing_pages_router.get("/broken")
async def broken(request: Request, signed_in: WebReader) -> HTMLResponse:
    raise RuntimeError("a bug")
