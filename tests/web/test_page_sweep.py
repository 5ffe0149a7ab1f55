"""Every page route says who may see it, and every page write checks its CSRF token.

The API's sweep (tests/core/test_authorization_sweep.py) covers the API's routes; this one
covers the pages app's. A new page that takes neither ``WebReader``/``WebWriter``/``WebAdmin``
nor ``VisitorDep`` fails here, and so does a new page open to nobody-signed-in.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.core.auth import Role
from app.web.application import pages_app
from app.web.auth import signed_in_user, visitor
from tests.web.browser import Browser
from tests.web.conftest import SignIn

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# The only pages for someone not signed in.
SIGN_IN_PAGES = {
    "/sign-in",
    "/sign-in/email",
    "/sign-in/link",
    "/sign-in/token",
    "/sign-in/oidc",
    "/sign-in/oidc/callback",
}


def _page_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    return [
        (context.path or context.original_route.path, context.original_route)  # type: ignore[attr-defined]
        for context in iter_route_contexts(pages_app(app).routes)
        if isinstance(context.original_route, APIRoute)
    ]


def _depends_on(dependant: Dependant, call: object) -> bool:
    return dependant.call is call or any(_depends_on(d, call) for d in dependant.dependencies)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_page_route_needs_a_session_or_is_a_sign_in_page(app: FastAPI) -> None:
    routes = _page_routes(app)
    assert len(routes) >= 6
    unguarded = [
        path
        for path, route in routes
        if not (
            _depends_on(route.dependant, signed_in_user) or _depends_on(route.dependant, visitor)
        )
    ]
    assert unguarded == []
    open_to_visitors = {
        path for path, route in routes if not _depends_on(route.dependant, signed_in_user)
    }
    assert open_to_visitors == SIGN_IN_PAGES


async def test_without_a_session_every_page_leads_to_sign_in(
    app: FastAPI, browser: Browser
) -> None:
    for path, route in _page_routes(app):
        if path in SIGN_IN_PAGES:
            continue
        for method in route.methods:
            response = await browser.http.request(method, _concrete(path))
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/sign-in"), (method, path)


async def test_every_page_write_refuses_a_request_without_its_csrf_token(
    app: FastAPI, sign_in: SignIn, browser: Browser
) -> None:
    admin, _ = await sign_in(Role.ADMIN)
    await browser.get("/sign-in")  # a visitor cookie, but no token in the form
    writes = [
        (method, path)
        for path, route in _page_routes(app)
        for method in sorted(route.methods & WRITE_METHODS)
    ]
    assert len(writes) >= 4
    for method, path in writes:
        who = browser if path in SIGN_IN_PAGES else admin
        response = await who.http.request(method, _concrete(path), data={"x": "y"})
        assert response.status_code == 403, (method, path, response.status_code)
        assert "did not come from a Baton page" in response.text, (method, path)
