"""The one error hierarchy below the routes, rendered by one handler as ``{code, detail, ...}``."""

from __future__ import annotations

from typing import Any


class BatonError(Exception):
    status_code = 400
    code = "bad_request"
    # Most errors undo the whole request. A few must keep what was written before they were
    # raised (a wrong verification code still counts as an attempt).
    keep_changes = False

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class InvalidInput(BatonError):
    status_code = 422
    code = "invalid_input"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        if field is not None:
            extra.setdefault("errors", [{"loc": field.split("."), "msg": detail}])
        super().__init__(detail, **extra)


class Unauthenticated(BatonError):
    status_code = 401
    code = "unauthenticated"

    def __init__(self, detail: str = "a valid API token is required", **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(BatonError):
    status_code = 403
    code = "forbidden"


class NotFound(BatonError):
    status_code = 404
    code = "not_found"


class Conflict(BatonError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(BatonError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(BatonError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_seconds: int, **extra: Any) -> None:
        super().__init__(detail, retry_after_seconds=retry_after_seconds, **extra)
        self.headers = {"Retry-After": str(retry_after_seconds)}


class ServiceUnavailable(BatonError):
    status_code = 503
    code = "unavailable"
