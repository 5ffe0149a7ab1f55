"""Who is looking at a page, and the dependencies every page route declares.

A page route takes one of ``WebReader``, ``WebWriter`` or ``WebAdmin`` (a signed-in user; the
last two refuse viewers and non-admins as the API's ``Writer`` and ``AdminOnly`` do) or, for
the sign-in pages only, ``Visitor`` (nobody signed in yet). Each of them checks the CSRF token
of every state-changing request, so a route cannot forget to; ``tests/web`` checks that every
route takes one of them.

Signing in, in one place:

- ``/sign-in`` asks for an e-mail address and mails a one-time link (``magic_links``), or
  takes a pasted API token, verified as the API verifies it (``app.state.resolve_token``, with
  the same lockout of addresses that guess).
- Either opens a web session (``sessions``): the ``baton_session`` cookie, HttpOnly,
  SameSite=Lax, Secure in production.
- The principal is built from the session's user as the API builds it from a token's
  (``people.service.principal_for_user``), with ``channel="web"``: the same roles and team
  rights, and timelines and the audit log say the change came from the web.
- OpenID Connect single sign-on belongs here too: its callback ends like the others, with
  ``sessions.open_session(..., SignInMethod.OIDC, ...)`` and :func:`set_session_cookie`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response

from app.core.auth import Principal, Role
from app.core.errors import Forbidden
from app.core.session import DbSession
from app.people import service as people_service
from app.people.models import User
from app.web import sessions
from app.web.context import web_context
from app.web.csrf import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    VISITOR_COOKIE,
    new_visitor_id,
    tokens_match,
)
from app.web.models import WebSession
from app.web.redirects import HOME, path_with_query, safe_next
from app.web.sessions import SESSION_COOKIE

# The visitor cookie binds nothing but the sign-in forms' CSRF token; it may outlive a session.
VISITOR_COOKIE_SECONDS = 30 * 24 * 3600


class CsrfRefused(Forbidden):
    code = "csrf_refused"

    def __init__(self) -> None:
        super().__init__(
            "this form has expired or did not come from a Baton page; "
            "go back, reload the page and try again"
        )


class SignInRequired(Exception):
    """Raised by the page dependencies; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str, *, forget_cookie: bool) -> None:
        super().__init__("sign in first")
        self.next_path = next_path
        self.forget_cookie = forget_cookie


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as pages show them: a copy, not the row, so that an error page
    can still show it after the request's database session has rolled back."""

    id: int
    name: str
    email: str
    time_zone: str
    role: Role

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(user.id, user.name, user.email, user.time_zone, user.role)


@dataclass(frozen=True)
class SignedIn:
    """The signed-in user of a page request: the principal to call services with."""

    principal: Principal
    viewer: Viewer
    # The session's row, in the request's database session (sign-out ends it).
    session: WebSession
    csrf_token: str


@dataclass(frozen=True)
class Visitor:
    """Someone on the sign-in pages, before a session exists."""

    id: str
    csrf_token: str
    is_new: bool
    secure_cookie: bool

    def set_cookie(self, response: Response) -> None:
        response.set_cookie(
            VISITOR_COOKIE,
            self.id,
            max_age=VISITOR_COOKIE_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure_cookie,
        )


# ------------------------------------------------------------------------------------ CSRF


async def presented_csrf_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def require_csrf(request: Request, expected: str) -> None:
    if request.method in SAFE_METHODS:
        return
    if not tokens_match(expected, await presented_csrf_token(request)):
        raise CsrfRefused()


# --------------------------------------------------------------------------------- cookies


def set_session_cookie(
    request: Request, response: Response, opened: sessions.OpenedSession
) -> None:
    lifetime = opened.row.expires_at - opened.row.created_at
    response.set_cookie(
        SESSION_COOKIE,
        opened.secret,
        max_age=max(1, int(lifetime.total_seconds())),
        path="/",
        httponly=True,
        samesite="lax",
        secure=web_context(request).secure_cookies,
    )


def forget_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=web_context(request).secure_cookies,
    )


# ---------------------------------------------------------------------------- dependencies


def _where_to_return(request: Request) -> str:
    """The page to come back to after signing in: this one, or for a form sent with an ended
    session, the page the form was on."""
    if request.method in SAFE_METHODS:
        return safe_next(path_with_query(request.url.path, request.url.query))
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc == request.url.netloc:
        return safe_next(path_with_query(referer.path, referer.query))
    return HOME


async def current_session(request: Request, session: DbSession) -> SignedIn | None:
    """The signed-in user of this request, or None; checks no CSRF (the dependencies do)."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    row = await sessions.live_session(session, secret)
    if row is None:
        return None
    principal = await people_service.principal_for_user(session, row.user_id, channel="web")
    user = await session.get(User, row.user_id)
    if principal is None or user is None:
        return None
    signed_in = SignedIn(
        principal, Viewer.of(user), row, web_context(request).csrf.for_session(row.token_hash)
    )
    request.state.signed_in = signed_in
    request.state.principal = principal
    return signed_in


async def signed_in_user(request: Request, session: DbSession) -> SignedIn:
    signed_in = await current_session(request, session)
    if signed_in is None:
        raise SignInRequired(
            _where_to_return(request), forget_cookie=SESSION_COOKIE in request.cookies
        )
    await require_csrf(request, signed_in.csrf_token)
    return signed_in


async def _writer(signed_in: Annotated[SignedIn, Depends(signed_in_user)]) -> SignedIn:
    signed_in.principal.require_write()
    return signed_in


async def _admin(signed_in: Annotated[SignedIn, Depends(signed_in_user)]) -> SignedIn:
    signed_in.principal.require_admin()
    return signed_in


async def visitor(request: Request) -> Visitor:
    context = web_context(request)
    existing = request.cookies.get(VISITOR_COOKIE)
    known = existing if existing and 32 <= len(existing) <= 128 else None
    if request.method not in SAFE_METHODS:
        if known is None:
            raise CsrfRefused()
        await require_csrf(request, context.csrf.for_visitor(known))
    visitor_id = known or new_visitor_id()
    seen = Visitor(
        id=visitor_id,
        csrf_token=context.csrf.for_visitor(visitor_id),
        is_new=known is None,
        secure_cookie=context.secure_cookies,
    )
    request.state.visitor = seen
    return seen


WebReader = Annotated[SignedIn, Depends(signed_in_user)]
WebWriter = Annotated[SignedIn, Depends(_writer)]
WebAdmin = Annotated[SignedIn, Depends(_admin)]
VisitorDep = Annotated[Visitor, Depends(visitor)]
