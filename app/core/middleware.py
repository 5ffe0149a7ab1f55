"""Pure ASGI middleware: request ids, access log and metrics, a request body size cap, and
the input no route can take (JSON nested too deep, NUL in the URL)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.handlers import CLIENT_CLOSED_REQUEST, internal_error_body, log_client_disconnect
from app.core.jsondepth import nests_deeper_than, too_deep_detail
from app.core.logging import request_id_var
from app.core.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

access_log = logging.getLogger("baton.access")
log = logging.getLogger(__name__)
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # The raw path may carry a secret (an integration key); logs and metrics get the template.
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here rather than by the outermost handler, which runs after this
            # middleware is done: the 500 carries the request id in its body and header.
            if status is not None:
                raise  # the answer has begun; the server can only close the connection
            log.error("unhandled error", exc_info=exc)
            body = json.dumps(internal_error_body()).encode()
            await send_with_id(_json_start(500, body))
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            status = status or CLIENT_CLOSED_REQUEST
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            HTTP_REQUEST_SECONDS.labels(method=method, route=route).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Refuse bodies over the limit with 413 before the app buffers them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_too_large(send, self.max_bytes)
            return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Once the body overflowed, whatever the app answers (its error handler turns the
            # exception into a 500) is replaced by the 413 sent below.
            if not too_large:
                await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if too_large:
            await _send_too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _send_too_large(send: Send, limit: int) -> None:
    await _send_json(
        send,
        413,
        {"code": "payload_too_large", "detail": f"request body is larger than {limit} bytes"},
    )


class InputShapeMiddleware:
    """Refuse, with 422, what no route can take: a NUL in the URL (no database stores it) and
    a body whose JSON nests deeper than ``max_depth``. Paths under ``own_parsers`` parse their
    raw bodies themselves, with the same limit, and answer in their senders' own error shape.
    """

    def __init__(self, app: ASGIApp, max_depth: int, own_parsers: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_depth = max_depth
        self.own_parsers = own_parsers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            await _send_json(
                send,
                422,
                {"code": "invalid_input", "detail": "the URL must not contain NUL characters"},
            )
            return
        if path.startswith(self.own_parsers) or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                log_client_disconnect(scope)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if nests_deeper_than(body, self.max_depth):
            detail = too_deep_detail(self.max_depth)
            await _send_json(
                send,
                422,
                {
                    "code": "json_too_deep",
                    "detail": detail,
                    "errors": [{"loc": ["body"], "msg": detail, "type": "json_too_deep"}],
                },
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length not in ("", "0")
    return _header(scope, b"transfer-encoding") is not None


def _json_start(status: int, body: bytes) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
        ],
    }


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    body = json.dumps(content).encode()
    await send(_json_start(status, body))
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> Any:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None
