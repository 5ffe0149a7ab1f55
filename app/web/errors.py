"""Errors on pages: the API's status and message, as a page with a way back.

``app.core.handlers`` decides what every error answers (status, code, message); the pages
write that answer as HTML instead of JSON, so a page says exactly what the API would. An htmx
request gets the message as a fragment for the page's ``#flash`` area instead of a whole page.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.handlers import ErrorAnswer, error_answer
from app.web.auth import SignInRequired, forget_session_cookie
from app.web.redirects import HOME, path_with_query, same_site_path
from app.web.templating import is_htmx, render

SIGN_IN_PATH = "/sign-in"
# Headers of an API error that mean nothing to a browser showing a page.
_API_ONLY_HEADERS = frozenset({"www-authenticate"})


def _title(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def back_link(request: Request) -> str:
    """The page the visitor came from, if it is one of ours; else the home page."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc == request.url.netloc:
        back = same_site_path(path_with_query(referer.path, referer.query))
        if back is not None and back != path_with_query(request.url.path, request.url.query):
            return back
    return HOME


def render_error_page(request: Request, answer: ErrorAnswer) -> Response:
    headers = {
        name: value
        for name, value in (answer.headers or {}).items()
        if name.lower() not in _API_ONLY_HEADERS
    }
    context = {
        "status_code": answer.status_code,
        "title": _title(answer.status_code),
        "message": answer.detail,
        "code": answer.code,
        "request_id": answer.body.get("request_id"),
        "back": back_link(request),
    }
    if is_htmx(request):
        headers |= {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        return render(
            request, "_error_flash.html", context, status_code=answer.status_code, headers=headers
        )
    return render(request, "error.html", context, status_code=answer.status_code, headers=headers)


async def redirect_to_sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    target = SIGN_IN_PATH
    if exc.next_path != HOME:
        target += "?" + urlencode({"next": exc.next_path})
    response: Response
    if is_htmx(request):
        # htmx follows HX-Redirect with a whole-page load; a 303 would be swapped into the page.
        response = Response(status_code=401, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if exc.forget_cookie:
        forget_session_cookie(request, response)
    return response


class PageErrorMiddleware:
    """An unexpected error on a page answers with the error page (500, the request id).

    Starlette's own last-resort handler re-raises after answering, and the API's request
    middleware would then answer again; this one answers once and keeps the error here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            request = Request(scope, receive)
            await render_error_page(request, error_answer(request, exc))(scope, receive, send)
