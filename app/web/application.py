"""The pages as their own ASGI app, mounted on the API's after every API route.

They are a separate FastAPI app for three reasons: their errors are pages, not JSON (their
own error handlers); they authenticate with a session cookie and CSRF tokens, not bearer
tokens (the API's sweep of routes is about the API, and ``tests/web`` sweeps the pages); and
they are no part of the OpenAPI document. They share the API app's ``state`` (database, clock,
settings, notifier), so the same dependencies (``DbSession``, ``ClockDep``) work in both.

Paths under ``/api/`` stay the API's, found or not (their 404s are JSON); every other path
is the pages', so a mistyped address gets the HTML 404 page.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.handlers import install_error_handlers
from app.core.settings import Settings
from app.web.auth import SignInRequired
from app.web.context import WebContext
from app.web.errors import PageErrorMiddleware, redirect_to_sign_in, render_error_page
from app.web.routes import ROUTERS
from app.web.templating import STATIC_DIR, STATIC_PREFIX

API_PREFIX = "/api"

# No inline or third-party script runs on a page; htmx runs without eval. Styles may be
# inline: vis-timeline injects its own.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
_PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # A sign-in link's token is in its URL: no other site sees it as a referrer.
    "referrer-policy": "same-origin",
}


class PageHeadersMiddleware:
    """Security headers on every answer of the pages app; pages are never cached (they show
    what one person may see), static files by version (``static_url`` puts it in the URL)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = scope["path"].startswith(STATIC_PREFIX + "/")
        versioned = is_static and b"v=" in scope.get("query_string", b"")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _PAGE_HEADERS.items():
                    headers.setdefault(name, value)
                if versioned:
                    headers["cache-control"] = "public, max-age=31536000, immutable"
                elif is_static:
                    headers["cache-control"] = "no-cache"
                else:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_pages_app(api: FastAPI, routers: list[APIRouter] | None = None) -> FastAPI:
    settings: Settings = api.state.settings
    pages = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    pages.state = api.state
    api.state.web = WebContext.from_settings(settings, api.state.clock)
    install_error_handlers(pages, render=render_error_page)
    pages.add_exception_handler(SignInRequired, redirect_to_sign_in)
    for router in routers if routers is not None else ROUTERS:
        pages.include_router(router)
    pages.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
    pages.add_middleware(PageErrorMiddleware)
    pages.add_middleware(PageHeadersMiddleware)
    return pages


class PagesMount(Mount):
    """Hands the pages every request the API has no route for, except under ``/api/``.

    Mounted last: a path an API route matches never gets here. One an API route matches
    except for its method stays the API's too (its 405 is JSON).
    """

    def __init__(self, pages: FastAPI, api_routes: list[BaseRoute]) -> None:
        super().__init__("", app=pages)
        self._api_routes = api_routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path: str = scope["path"]
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return Match.NONE, {}
        for route in self._api_routes:
            if route is self:
                break
            if route.matches(scope)[0] is Match.PARTIAL:
                return Match.NONE, {}
        return super().matches(scope)


def mount_pages(api: FastAPI) -> None:
    """Serve the pages from ``api``; call it after every API router is included."""
    api.router.routes.append(PagesMount(create_pages_app(api), api.router.routes))


def pages_app(api: FastAPI) -> FastAPI:
    """The pages app mounted on ``api`` (tests add their own routes to it)."""
    for route in api.router.routes:
        if isinstance(route, PagesMount):
            pages = route.app
            assert isinstance(pages, FastAPI)
            return pages
    raise LookupError("the pages are not mounted on this app")
