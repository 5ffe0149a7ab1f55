"""Signing in and out: ``/sign-in`` (an e-mailed link, a pasted API token, or single sign-on
with OpenID Connect), the link's page, and ``/sign-out``. The only pages open to
nobody-signed-in; they take ``VisitorDep``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import TokenResolver
from app.core.authguard import Credential, auth_guard, source_address
from app.core.errors import NotFound, RateLimited, Unauthenticated
from app.core.session import DbSession
from app.notify.base import Notifier, OutboundMessage
from app.people import service as people_service
from app.people.models import ApiToken, User
from app.web import magic_links, oidc, sessions
from app.web.auth import (
    VisitorDep,
    WebReader,
    current_session,
    forget_session_cookie,
    set_session_cookie,
)
from app.web.context import web_context
from app.web.magic_links import MAX_EMAIL_LENGTH, LinkNotUsable
from app.web.models import SignInMethod
from app.web.redirects import HOME, MAX_NEXT_LENGTH, safe_next
from app.web.sessions import SESSION_COOKIE
from app.web.templating import render

log = logging.getLogger(__name__)
router = APIRouter()

NextQuery = Annotated[str | None, Query(alias="next", max_length=MAX_NEXT_LENGTH)]
NextField = Annotated[str, Form(alias="next", max_length=MAX_NEXT_LENGTH)]
# Longer than any token Baton makes: a shorter paste that is no token is refused as unknown,
# a longer one as invalid input.
MAX_TOKEN_LENGTH = 512


def _sign_in_page(
    request: Request,
    next_path: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    error_form: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "sign_in/sign_in.html",
        {
            "next_path": next_path,
            "notice": notice,
            "error": error,
            # Which form the error is about ("email", "token" or "sso"), to show it beside it.
            "error_form": error_form,
            "link_minutes": int(web_context(request).link_lifetime.total_seconds() // 60),
            "single_sign_on": _single_sign_on(request, next_path),
        },
        status_code=status_code,
        headers=headers,
    )


def _single_sign_on(request: Request, next_path: str) -> list[dict[str, str]]:
    """The single sign-on buttons: one when OpenID Connect is configured, else none."""
    client = oidc.oidc_client(request)
    if client is None:
        return []
    query = f"?{urlencode({'next': next_path})}" if next_path != HOME else ""
    return [
        {
            "label": f"Sign in with {client.config.display_name}",
            "path": oidc.START_PATH + query,
        }
    ]


async def _open_session(
    request: Request,
    session: AsyncSession,
    user_id: int,
    method: SignInMethod,
    api_token: ApiToken | None = None,
) -> sessions.OpenedSession:
    """A new session for this browser; the one it had, if any, ends (one browser, one session)."""
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        row = await sessions.live_session(session, previous)
        if row is not None:
            sessions.end_session(session, row)
    return await sessions.open_session(
        session,
        user_id,
        method,
        lifetime=web_context(request).session_lifetime,
        api_token=api_token,
    )


def _signed_in_redirect(
    request: Request, opened: sessions.OpenedSession, next_path: str
) -> RedirectResponse:
    response = RedirectResponse(safe_next(next_path), status_code=303)
    set_session_cookie(request, response, opened)
    return response


@router.get("/sign-in")
async def sign_in_page(
    request: Request,
    visitor: VisitorDep,
    session: DbSession,
    next_path: NextQuery = None,
    signed_out: bool = False,
) -> Response:
    destination = safe_next(next_path)
    if await current_session(request, session) is not None:
        return RedirectResponse(destination, status_code=303)
    return _sign_in_page(request, destination, notice="You are signed out." if signed_out else None)


# ------------------------------------------------------------------------------- by e-mail


async def _send_link(notifier: Notifier, message: OutboundMessage) -> None:
    # Sent after the answer, so how long sending takes tells nobody whether the address is known.
    try:
        result = await notifier.send(message)
    except Exception:
        log.exception("sign-in link not sent", extra={"user_id": message.user_id})
        return
    if not result.ok:
        log.warning(
            "sign-in link not sent",
            extra={
                "user_id": message.user_id,
                "status": str(result.status),
                "detail": result.detail,
            },
        )


@router.post("/sign-in/email")
async def send_sign_in_link(
    request: Request,
    visitor: VisitorDep,
    session: DbSession,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=MAX_EMAIL_LENGTH)],
    next_path: NextField = HOME,
) -> HTMLResponse:
    context = web_context(request)
    address = email.strip().lower()
    destination = safe_next(next_path)
    try:
        context.links_per_address.take(
            source_address(request),
            "too many sign-in links were asked for from your network address; "
            "wait a few minutes and try again",
        )
        context.links_per_email.take(
            address,
            "too many sign-in links were asked for this e-mail address; "
            "wait a few minutes and try again",
        )
    except RateLimited as exc:
        return _sign_in_page(
            request,
            destination,
            error=exc.detail,
            error_form="email",
            status_code=exc.status_code,
            headers=exc.headers,
        )
    pending = await magic_links.request_link(
        session,
        address,
        next_path=destination,
        lifetime=context.link_lifetime,
        public_url=context.public_url,
    )
    if pending is not None:
        background.add_task(_send_link, request.app.state.notifier, pending.message)
    # The same answer whether or not anyone has this address.
    return render(
        request,
        "sign_in/link_sent.html",
        {
            "email": address,
            "link_minutes": int(context.link_lifetime.total_seconds() // 60),
            "next_path": destination,
        },
    )


@router.get("/sign-in/link")
async def sign_in_link_page(
    request: Request,
    visitor: VisitorDep,
    session: DbSession,
    token: Annotated[str, Query(max_length=magic_links.TOKEN_DIGITS)] = "",
) -> HTMLResponse:
    # Opening the link only shows a button: mail scanners that fetch every link must not use
    # it up before its owner clicks.
    try:
        link = await magic_links.usable_link(session, token)
    except LinkNotUsable as exc:
        return _sign_in_page(
            request, HOME, error=exc.detail, error_form="email", status_code=exc.status_code
        )
    user = await session.get(User, link.user_id)
    return render(request, "sign_in/confirm_link.html", {"token": token, "user": user})


@router.post("/sign-in/link")
async def use_sign_in_link(
    request: Request,
    visitor: VisitorDep,
    session: DbSession,
    token: Annotated[str, Form(max_length=magic_links.TOKEN_DIGITS)],
) -> Response:
    try:
        link = await magic_links.use_link(session, token)
    except LinkNotUsable as exc:
        return _sign_in_page(
            request, HOME, error=exc.detail, error_form="email", status_code=exc.status_code
        )
    opened = await _open_session(request, session, link.user_id, SignInMethod.MAGIC_LINK)
    return _signed_in_redirect(request, opened, link.next_path)


# ------------------------------------------------------------------------------ by API token


@router.post("/sign-in/token")
async def sign_in_with_token(
    request: Request,
    visitor: VisitorDep,
    session: DbSession,
    token: Annotated[str, Form(max_length=MAX_TOKEN_LENGTH)],
    next_path: NextField = HOME,
) -> Response:
    destination = safe_next(next_path)
    # Verified exactly as the API verifies a bearer token, lockout of guessing addresses included.
    guard, address = auth_guard(request), source_address(request)
    try:
        guard.check(address, Credential.API_TOKEN)
        resolve: TokenResolver = request.app.state.resolve_token
        principal = await resolve(session, token.strip())
        if principal is None:
            guard.failed(address, Credential.API_TOKEN)
            raise Unauthenticated("the API token is unknown, expired or revoked")
    except (RateLimited, Unauthenticated) as exc:
        return _sign_in_page(
            request,
            destination,
            error=exc.detail,
            error_form="token",
            status_code=exc.status_code,
            headers={k: v for k, v in exc.headers.items() if k.lower() != "www-authenticate"},
        )
    api_token = await session.get(ApiToken, principal.token_id) if principal.token_id else None
    opened = await _open_session(
        request, session, principal.user_id, SignInMethod.API_TOKEN, api_token
    )
    return _signed_in_redirect(request, opened, destination)


# ------------------------------------------------------------------- by single sign-on (OIDC)


def _configured_oidc(request: Request) -> oidc.OidcClient:
    client = oidc.oidc_client(request)
    if client is None:
        raise NotFound("single sign-on is not configured on this Baton")
    return client


def _forget_oidc_flow(request: Request, response: Response) -> None:
    response.delete_cookie(
        oidc.FLOW_COOKIE,
        path=oidc.FLOW_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=web_context(request).secure_cookies,
    )


@router.get(oidc.START_PATH)
async def start_single_sign_on(
    request: Request, visitor: VisitorDep, next_path: NextQuery = None
) -> Response:
    client = _configured_oidc(request)
    destination = safe_next(next_path)
    try:
        started = await client.start(destination)
    except oidc.ProviderUnavailable as exc:
        return _sign_in_page(
            request, destination, error=exc.detail, error_form="sso", status_code=exc.status_code
        )
    response = RedirectResponse(started.authorization_url, status_code=303)
    # SameSite=Lax: the provider's redirect back is a top-level GET, which carries it.
    response.set_cookie(
        oidc.FLOW_COOKIE,
        started.cookie_value,
        max_age=oidc.FLOW_SECONDS,
        path=oidc.FLOW_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=web_context(request).secure_cookies,
    )
    return response


@router.get(oidc.CALLBACK_PATH)
async def finish_single_sign_on(
    request: Request, visitor: VisitorDep, session: DbSession
) -> Response:
    client = _configured_oidc(request)
    try:
        identity = await client.finish(
            request.cookies.get(oidc.FLOW_COOKIE), dict(request.query_params)
        )
        # Matched by e-mail; nobody gets an account by signing in.
        user = await people_service.get_user_by_email(session, identity.email)
        if user is None:
            raise oidc.UnknownUser(identity.email)
    except (oidc.SingleSignOnRefused, oidc.UnknownUser, oidc.ProviderUnavailable) as exc:
        refused = _sign_in_page(
            request, HOME, error=exc.detail, error_form="sso", status_code=exc.status_code
        )
        # A flow is answered once: the same callback again finds no flow.
        _forget_oidc_flow(request, refused)
        return refused
    opened = await _open_session(request, session, user.id, SignInMethod.OIDC)
    response = _signed_in_redirect(request, opened, identity.next_path)
    _forget_oidc_flow(request, response)
    return response


# -------------------------------------------------------------------------------- sign out


@router.get("/sign-out")
async def sign_out_page(request: Request, signed_in: WebReader) -> HTMLResponse:
    return render(request, "sign_in/sign_out.html")


@router.post("/sign-out")
async def sign_out(request: Request, signed_in: WebReader, session: DbSession) -> Response:
    sessions.end_session(session, signed_in.session)
    response = RedirectResponse("/sign-in?signed_out=true", status_code=303)
    forget_session_cookie(request, response)
    return response
