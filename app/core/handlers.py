"""The one place errors become HTTP answers: ``{"code": ..., "detail": ..., ...}``.

Each kind of error is turned into an :class:`ErrorAnswer` (status, body, headers) once, here;
how the answer is written is the caller's choice: the API writes it as JSON, the web pages
(``app/web``) as an HTML page with the same status and the same words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Scope

from app.core.errors import BatonError
from app.core.logging import request_id_var

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


@dataclass(frozen=True)
class ErrorAnswer:
    """What an error answers, before it is written as JSON or as a page."""

    status_code: int
    body: dict[str, Any]
    headers: Mapping[str, str] | None = field(default=None)

    @property
    def code(self) -> str:
        return str(self.body.get("code", "error"))

    @property
    def detail(self) -> str:
        return str(self.body.get("detail", ""))


# Writes an answer: JSON for the API, an HTML page for the web pages.
ErrorRenderer = Callable[[Request, ErrorAnswer], Response]


def json_answer(_request: Request, answer: ErrorAnswer) -> Response:
    return JSONResponse(
        answer.body, status_code=answer.status_code, headers=dict(answer.headers or {}) or None
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        # Never echo the input back: it may be a secret or a huge payload.
        errors.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": error.get("msg", ""),
                "type": error.get("type", ""),
            }
        )
    return errors


def _baton_error(_request: Request, exc: Exception) -> ErrorAnswer:
    assert isinstance(exc, BatonError)
    return ErrorAnswer(exc.status_code, exc.body(), exc.headers or None)


def _validation_error(request: Request, exc: Exception) -> ErrorAnswer:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    content_type = request.headers.get("content-type", "")
    if (
        request.method in ("POST", "PUT", "PATCH")
        and "json" not in content_type
        and any(e["loc"] == ["body"] and e["type"] == "model_attributes_type" for e in errors)
    ):
        return ErrorAnswer(
            415,
            {
                "code": "unsupported_media_type",
                "detail": "request bodies are JSON: send them with Content-Type: application/json",
            },
        )
    if any(e["type"] == "json_invalid" for e in errors):
        return ErrorAnswer(
            422,
            {
                "code": "invalid_json",
                "detail": "the request body is not valid JSON",
                "errors": errors,
            },
        )
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"])
    detail = f"{where}: {first['msg']}" if where else first["msg"]
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return ErrorAnswer(422, {"code": "validation_error", "detail": detail, "errors": errors})


def _http_error(_request: Request, exc: Exception) -> ErrorAnswer:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return ErrorAnswer(exc.status_code, {"code": code, "detail": detail}, exc.headers)


def _integrity_error(_request: Request, exc: Exception) -> ErrorAnswer:
    # Services check uniqueness first; this catches the race where two requests insert at once.
    log.info("integrity error turned into 409", extra={"error": str(exc.__cause__ or exc)[:300]})
    return ErrorAnswer(
        409,
        {"code": "conflict", "detail": "the change conflicts with existing data; reload and retry"},
    )


def _database_unavailable(_request: Request, exc: Exception) -> ErrorAnswer:
    # A lost connection (database restart, failover) or a lock timeout: nothing was stored, and
    # the client should retry. 503 is what every sender we serve retries on.
    log.warning("database unavailable", extra={"error": type(exc).__name__})
    return ErrorAnswer(
        503,
        {
            "code": "database_unavailable",
            "detail": "the database is unavailable; retry shortly",
            "request_id": request_id_var.get(),
        },
        {"Retry-After": "5"},
    )


def _unstorable_value(_request: Request, exc: Exception) -> ErrorAnswer:
    # The database refused a value (a NUL in text on PostgreSQL, a number out of a column's
    # range): the input's fault, and nothing was stored. Typed fields refuse these first, with
    # their name; this is the net under the ones that cannot know the column.
    log.warning("database refused a value", extra={"error": type(exc).__name__})
    return ErrorAnswer(
        422, {"code": "invalid_input", "detail": "a value in the request cannot be stored"}
    )


# What the access log and metrics record for a request whose sender left before its answer.
CLIENT_CLOSED_REQUEST = 499


def log_client_disconnect(scope: Scope) -> None:
    """A sender that hangs up before its body is in (wrk does at the end of every run) is
    nothing to debug: one line, no traceback."""
    route = getattr(scope.get("route"), "path", None)
    log.warning(
        "client disconnected before sending its whole request",
        extra={"method": scope.get("method"), "route": route or "unmatched"},
    )


async def _client_disconnected(request: Request, _exc: Exception) -> Response:
    log_client_disconnect(request.scope)
    return Response(status_code=CLIENT_CLOSED_REQUEST)  # nobody reads it but the access log


def internal_error_body() -> dict[str, Any]:
    return {
        "code": "internal_error",
        "detail": "something went wrong on our side",
        "request_id": request_id_var.get(),
    }


def unexpected_error(_request: Request, exc: Exception) -> ErrorAnswer:
    log.error("unhandled error", exc_info=exc)
    return ErrorAnswer(500, internal_error_body())


_ANSWERS: list[tuple[type[Exception], Callable[[Request, Exception], ErrorAnswer]]] = [
    (BatonError, _baton_error),
    (RequestValidationError, _validation_error),
    (StarletteHTTPException, _http_error),
    (IntegrityError, _integrity_error),
    (OperationalError, _database_unavailable),
    (DataError, _unstorable_value),
    (UnicodeEncodeError, _unstorable_value),
    (Exception, unexpected_error),
]
_ANSWER_BY_KIND = dict(_ANSWERS)


def error_answer(request: Request, exc: Exception) -> ErrorAnswer:
    """The answer for ``exc``, as the handlers installed below would give it."""
    # The most specific kind wins, as Starlette picks a handler.
    for kind in type(exc).__mro__:
        if kind in _ANSWER_BY_KIND:
            return _ANSWER_BY_KIND[kind](request, exc)
    return unexpected_error(request, exc)


def _handler(
    answer: Callable[[Request, Exception], ErrorAnswer], render: ErrorRenderer
) -> Callable[[Request, Exception], Any]:
    async def handle(request: Request, exc: Exception) -> Response:
        return render(request, answer(request, exc))

    return handle


def install_error_handlers(app: FastAPI, render: ErrorRenderer = json_answer) -> None:
    for kind, answer in _ANSWERS:
        app.add_exception_handler(kind, _handler(answer, render))
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
