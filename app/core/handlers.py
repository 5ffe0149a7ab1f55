"""The one place errors become HTTP answers: ``{"code": ..., "detail": ..., ...}``."""

from __future__ import annotations

import logging
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


async def _baton_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BatonError)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers or None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    content_type = request.headers.get("content-type", "")
    if (
        request.method in ("POST", "PUT", "PATCH")
        and "json" not in content_type
        and any(e["loc"] == ["body"] and e["type"] == "model_attributes_type" for e in errors)
    ):
        return JSONResponse(
            {
                "code": "unsupported_media_type",
                "detail": "request bodies are JSON: send them with Content-Type: application/json",
            },
            status_code=415,
        )
    if any(e["type"] == "json_invalid" for e in errors):
        return JSONResponse(
            {
                "code": "invalid_json",
                "detail": "the request body is not valid JSON",
                "errors": errors,
            },
            status_code=422,
        )
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"])
    detail = f"{where}: {first['msg']}" if where else first["msg"]
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return JSONResponse(
        {"code": "validation_error", "detail": detail, "errors": errors}, status_code=422
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(
        {"code": code, "detail": detail}, status_code=exc.status_code, headers=exc.headers
    )


async def _integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    # Services check uniqueness first; this catches the race where two requests insert at once.
    log.info("integrity error turned into 409", extra={"error": str(exc.__cause__ or exc)[:300]})
    return JSONResponse(
        {"code": "conflict", "detail": "the change conflicts with existing data; reload and retry"},
        status_code=409,
    )


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # A lost connection (database restart, failover) or a lock timeout: nothing was stored, and
    # the client should retry. 503 is what every sender we serve retries on.
    log.warning("database unavailable", extra={"error": type(exc).__name__})
    return JSONResponse(
        {
            "code": "database_unavailable",
            "detail": "the database is unavailable; retry shortly",
            "request_id": request_id_var.get(),
        },
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _unstorable_value(_request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value (a NUL in text on PostgreSQL, a number out of a column's
    # range): the input's fault, and nothing was stored. Typed fields refuse these first, with
    # their name; this is the net under the ones that cannot know the column.
    log.warning("database refused a value", extra={"error": type(exc).__name__})
    return JSONResponse(
        {"code": "invalid_input", "detail": "a value in the request cannot be stored"},
        status_code=422,
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


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return JSONResponse(internal_error_body(), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BatonError, _baton_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(DataError, _unstorable_value)
    app.add_exception_handler(UnicodeEncodeError, _unstorable_value)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(Exception, _unexpected_error)
