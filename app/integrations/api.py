"""Integration management (API tokens) and the inbound endpoints (integration keys)."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from app.alerts.grouping import InboundBatch
from app.alerts.service import IngestResult
from app.core.auth import Reader, Writer, bearer_token, public_route
from app.core.authguard import Credential, auth_guard, source_address
from app.core.crypto import SecretBox, UndecryptableSecret
from app.core.errors import BatonError, Forbidden, InvalidInput, RateLimited, Unauthenticated
from app.core.schemas import Id
from app.core.session import DbSession
from app.deploys.models import DeploySource
from app.integrations import schemas, service
from app.integrations.deploy_keys import DEPLOY_KINDS
from app.integrations.formats import (
    alertmanager,
    generic,
    github,
    grafana,
    pagerduty,
    pagerduty_change,
)
from app.integrations.formats.common import InvalidPayload
from app.integrations.models import Integration, IntegrationKind
from app.integrations.service import Gateway, KnownKey

router = APIRouter(tags=["integrations"])

INBOUND = "/api/v1/integrations"


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def _url(request: Request, integration: Integration) -> str:
    base = request.app.state.settings.public_url
    if integration.kind is IntegrationKind.HEARTBEAT:
        return f"{base}/api/v1/heartbeat/"
    if integration.kind is IntegrationKind.PAGERDUTY:
        return f"{base}{INBOUND}/pagerduty/v2/enqueue"
    return f"{base}{INBOUND}/{integration.kind}"


def _out(request: Request, integration: Integration) -> schemas.IntegrationOut:
    fields = set(schemas.IntegrationOut.model_fields) - {"url", "signed"}
    return schemas.IntegrationOut(
        **{name: getattr(integration, name) for name in fields},
        url=_url(request, integration),
        signed=bool(integration.signing_secret or integration.webhook_secret_encrypted),
    )


def _secret_box(request: Request) -> SecretBox:
    return service.webhook_secret_box(request.app.state.settings.secret_key.get_secret_value())


# -------------------------------------------------------------------------------- management


@router.get(
    "/api/v1/services/{service_id}/integrations", response_model=list[schemas.IntegrationOut]
)
async def list_integrations(
    request: Request, session: DbSession, _: Reader, service_id: Id
) -> list[schemas.IntegrationOut]:
    return [_out(request, i) for i in await service.list_integrations(session, service_id)]


@router.post(
    "/api/v1/services/{service_id}/integrations",
    response_model=schemas.IntegrationCreated,
    status_code=status.HTTP_201_CREATED,
)
async def create_integration(
    request: Request,
    session: DbSession,
    principal: Writer,
    service_id: Id,
    body: schemas.IntegrationCreate,
) -> schemas.IntegrationCreated:
    integration, key = await service.create_integration(
        session, principal, service_id, body, secret_box=_secret_box(request)
    )
    out = _out(request, integration)
    with_key = (
        f"{out.url}{key}"
        if integration.kind is IntegrationKind.HEARTBEAT
        else (out.url if integration.kind is IntegrationKind.PAGERDUTY else f"{out.url}/{key}")
    )
    return schemas.IntegrationCreated(**out.model_dump(), key=key, url_with_key=with_key)


@router.delete(
    "/api/v1/services/{service_id}/integrations/{integration_id}",
    response_model=schemas.IntegrationOut,
)
async def revoke_integration(
    request: Request, session: DbSession, principal: Writer, service_id: Id, integration_id: Id
) -> schemas.IntegrationOut:
    integration = await service.revoke_integration(session, principal, service_id, integration_id)
    _gateway(request).forget(integration.key_hash)
    return _out(request, integration)


# ----------------------------------------------------------------------------------- inbound


def _key_from(request: Request, path_key: str | None) -> str | None:
    """Bearer token first (Alertmanager logs URLs, so the path is not for secrets), then HTTP
    Basic's password (Grafana's basic auth), then the last path segment."""
    token = bearer_token(request)
    if token:
        return token
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            _, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password or None
    return path_key


async def _authenticate(
    request: Request, key: str | None, kinds: tuple[IntegrationKind, ...]
) -> KnownKey:
    """The gateway's key check, with wrong keys counted against the sender's address."""
    if not key:
        return await _gateway(request).authenticate(key, kinds)  # 401: nothing was guessed
    guard, address = auth_guard(request), source_address(request)
    guard.check(address, Credential.INTEGRATION_KEY)
    try:
        return await _gateway(request).authenticate(key, kinds)
    except Unauthenticated:
        guard.failed(address, Credential.INTEGRATION_KEY)
        raise


def _summary(result: IngestResult) -> dict[str, Any]:
    return {
        "status": "ok",
        "incidents": sorted(result.incident_ids),
        "created_incidents": result.created_incidents,
        "alerts": {
            "triggered": result.triggered,
            "repeated": result.repeated,
            "resolved": result.resolved,
            "acknowledged": result.acknowledged,
            "ignored": result.ignored,
        },
    }


def _invalid(exc: InvalidPayload) -> InvalidInput:
    return InvalidInput(exc.detail, code="invalid_payload", errors=exc.errors)


async def _receive(
    request: Request,
    kinds: tuple[IntegrationKind, ...],
    path_key: str | None,
    parse: Any,
) -> tuple[KnownKey, IngestResult]:
    gateway = _gateway(request)
    known = await _authenticate(request, _key_from(request, path_key), kinds)
    gateway.check_rate(known)
    body = await request.body()
    if known.kind is IntegrationKind.GRAFANA and known.signing_secret:
        _verify_grafana(request, known, body)
    try:
        batch: InboundBatch = parse(body)
    except InvalidPayload as exc:
        raise _invalid(exc) from None
    return known, await gateway.ingest(known, batch)


def _verify_grafana(request: Request, known: KnownKey, body: bytes) -> None:
    assert known.signing_secret is not None
    signature = request.headers.get("x-grafana-alerting-signature") or request.headers.get(
        "x-grafana-alert-signature"
    )
    header = known.signing_timestamp_header
    try:
        grafana.verify_signature(
            body,
            signature,
            known.signing_secret,
            timestamp=request.headers.get(header) if header else None,
            timestamp_required=header is not None,
            now_unix=request.app.state.clock.now().timestamp(),
        )
    except grafana.BadSignature as exc:
        raise Forbidden(f"Grafana signature check failed: {exc}", code="bad_signature") from None


_AM = (IntegrationKind.ALERTMANAGER,)


@router.post(f"{INBOUND}/alertmanager", openapi_extra=public_route("integration-key"))
async def alertmanager_webhook(request: Request) -> dict[str, Any]:
    """Prometheus Alertmanager webhook (payload version 4); key as bearer token."""
    _, result = await _receive(request, _AM, None, alertmanager.parse)
    return _summary(result)


@router.post(f"{INBOUND}/alertmanager/{{key}}", openapi_extra=public_route("integration-key"))
async def alertmanager_webhook_keyed(request: Request, key: str) -> dict[str, Any]:
    """Alertmanager webhook with the key in the URL (or a label there and the key as bearer)."""
    _, result = await _receive(request, _AM, key, alertmanager.parse)
    return _summary(result)


_GRAFANA = (IntegrationKind.GRAFANA,)


@router.post(f"{INBOUND}/grafana", openapi_extra=public_route("integration-key"))
@router.put(
    f"{INBOUND}/grafana",
    openapi_extra=public_route("integration-key"),
    operation_id="grafana_webhook_put",
)
async def grafana_webhook(request: Request) -> dict[str, Any]:
    """Grafana alerting webhook contact point (POST or PUT, optional HMAC)."""
    _, result = await _receive(request, _GRAFANA, None, grafana.parse)
    return _summary(result)


@router.post(f"{INBOUND}/grafana/{{key}}", openapi_extra=public_route("integration-key"))
@router.put(
    f"{INBOUND}/grafana/{{key}}",
    openapi_extra=public_route("integration-key"),
    operation_id="grafana_webhook_keyed_put",
)
async def grafana_webhook_keyed(request: Request, key: str) -> dict[str, Any]:
    _, result = await _receive(request, _GRAFANA, key, grafana.parse)
    return _summary(result)


_GENERIC = (IntegrationKind.GENERIC,)


@router.post(
    f"{INBOUND}/generic",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=public_route("integration-key"),
)
async def generic_event(request: Request) -> dict[str, Any]:
    """Generic JSON event: summary, details, dedup_key, action."""
    _, result = await _receive(request, _GENERIC, None, generic.parse)
    return _summary(result) | {"dedup_key": result.dedup_keys[0] if result.dedup_keys else None}


@router.post(
    f"{INBOUND}/generic/{{key}}",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=public_route("integration-key"),
)
async def generic_event_keyed(request: Request, key: str) -> dict[str, Any]:
    _, result = await _receive(request, _GENERIC, key, generic.parse)
    return _summary(result) | {"dedup_key": result.dedup_keys[0] if result.dedup_keys else None}


PD_INVALID = "Event object is invalid"
_PD_STATUS = {400: "invalid event", 429: "throttle event"}


def _pagerduty_error(
    status_code: int,
    code: str,
    detail: str,
    message: str,
    errors: list[str],
    *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """PagerDuty's own error shape (``status``, ``message``, ``errors``), plus ours (``code``,
    ``detail``), so either kind of client understands it."""
    return JSONResponse(
        {
            "code": code,
            "detail": detail,
            "status": _PD_STATUS.get(status_code, "error"),
            "message": message,
            "errors": errors,
        },
        status_code=status_code,
        headers=headers or None,
    )


@router.post(
    f"{INBOUND}/pagerduty/v2/enqueue",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=public_route("integration-key"),
)
async def pagerduty_enqueue(request: Request) -> JSONResponse:
    """PagerDuty Events API v2 compatible: the routing_key is the integration key."""
    body = await request.body()
    try:
        event = pagerduty.parse(body)
    except InvalidPayload as exc:
        return _pagerduty_error(400, "invalid_event", exc.detail, exc.detail, exc.errors)
    gateway = _gateway(request)
    try:
        known = await _authenticate(request, event.routing_key, (IntegrationKind.PAGERDUTY,))
        gateway.check_rate(known)
        await gateway.ingest(known, event.batch)
    except BatonError as exc:
        return _pagerduty_failure(exc)
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": event.dedup_key},
        status_code=202,
    )


def _pagerduty_failure(exc: BatonError) -> JSONResponse:
    """An event Baton refused, as PagerDuty would answer it."""
    if isinstance(exc, Unauthenticated):
        # What PagerDuty answers an unknown key: a 400 its clients report and do not retry.
        return _pagerduty_error(
            400, "invalid_routing_key", exc.detail, PD_INVALID, ["Invalid routing key"]
        )
    if isinstance(exc, RateLimited):
        return _pagerduty_error(
            429, exc.code, exc.detail, exc.detail, [exc.detail], headers=exc.headers
        )
    return _pagerduty_error(
        exc.status_code if exc.status_code >= 500 else 400,
        exc.code,
        exc.detail,
        PD_INVALID,
        [exc.detail],
        headers=exc.headers,
    )


@router.post(
    f"{INBOUND}/pagerduty/v2/change/enqueue",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=public_route("integration-key"),
)
async def pagerduty_change_enqueue(request: Request) -> JSONResponse:
    """PagerDuty Change Events API v2 compatible: a change event reports a deploy of the
    routing key's service (any of its integration keys but a heartbeat's). It never pages
    anyone; an incident that opens in the deploy's watch names it. See docs/deploys.md."""
    body = await request.body()
    try:
        routing_key, report = pagerduty_change.parse(body)
    except InvalidPayload as exc:
        return _pagerduty_error(400, "invalid_event", exc.detail, exc.detail, exc.errors)
    gateway = _gateway(request)
    try:
        known = await _authenticate(request, routing_key, DEPLOY_KINDS)
        gateway.check_rate(known)
        await gateway.record_deploy(known, report, DeploySource.PAGERDUTY)
    except BatonError as exc:
        return _pagerduty_failure(exc)
    # PagerDuty's own answer to a change event, word for word.
    return JSONResponse({"status": "success", "message": "Change event processed"}, status_code=202)


_GITHUB = (IntegrationKind.GITHUB,)


async def _github(request: Request, path_key: str | None) -> JSONResponse:
    gateway = _gateway(request)
    known = await _authenticate(request, _key_from(request, path_key), _GITHUB)
    gateway.check_rate(known)
    body = await request.body()
    _verify_github(known, request.headers.get(github.SIGNATURE_HEADER), body, request)
    event = request.headers.get(github.EVENT_HEADER, "")
    if event == github.PING:
        answer: dict[str, Any] = {"status": "ok", "message": "pong"}
        warning = github.ping_warning(body)
        if warning:
            answer["warning"] = warning
        return JSONResponse(answer)
    if event != github.DEPLOYMENT_STATUS:
        return _github_ignored(
            f"Baton reads deployment_status events only, not {event[:100] or 'unnamed'} events"
        )
    try:
        parsed = github.parse_deployment_status(body)
    except InvalidPayload as exc:
        raise _invalid(exc) from None
    if isinstance(parsed, github.Ignored):
        return _github_ignored(parsed.reason)
    recorded = await gateway.record_deploy(known, parsed, DeploySource.GITHUB)
    return JSONResponse(
        {
            "status": "ok",
            "deployment_id": recorded.deployment.id,
            "deploy_status": recorded.deployment.status.value,
            "created": recorded.created,
            "changed": recorded.changed,
        }
    )


def _verify_github(known: KnownKey, signature: str | None, body: bytes, request: Request) -> None:
    """Before anything reads the body: a delivery GitHub did not sign with the webhook's
    secret is refused, and stores nothing."""
    if not known.webhook_secret_encrypted:
        # Created without a secret (not possible through the API): nothing can be trusted.
        raise Unauthenticated("this GitHub integration has no webhook secret", code="bad_signature")
    try:
        secret = _secret_box(request).decrypt(known.webhook_secret_encrypted)
    except UndecryptableSecret:
        raise Unauthenticated(
            "this GitHub integration's webhook secret does not decrypt (was BATON_SECRET_KEY "
            "changed?): create the integration again",
            code="bad_signature",
        ) from None
    try:
        github.verify_signature(body, signature, secret)
    except github.BadSignature as exc:
        raise Unauthenticated(
            f"GitHub signature check failed: {exc}", code="bad_signature"
        ) from None


def _github_ignored(reason: str) -> JSONResponse:
    return JSONResponse({"status": "ignored", "reason": reason}, status_code=202)


_SIGNED_BY_GITHUB = public_route("integration-key-and-github-signature")


@router.post(f"{INBOUND}/github", openapi_extra=_SIGNED_BY_GITHUB)
async def github_webhook(request: Request) -> JSONResponse:
    """GitHub webhook, key as bearer token or as the password of the URL's basic auth."""
    return await _github(request, None)


@router.post(f"{INBOUND}/github/{{key}}", openapi_extra=_SIGNED_BY_GITHUB)
async def github_webhook_keyed(request: Request, key: str) -> JSONResponse:
    """GitHub ``deployment_status`` webhook (the key in the URL: GitHub sets no headers of its
    own choosing). Checks ``X-Hub-Signature-256`` with the webhook secret; ``ping`` answers
    200, other events 202 ignored. See docs/deploys.md for the state mapping."""
    return await _github(request, key)


@router.post("/api/v1/heartbeat/{key}", openapi_extra=public_route("integration-key"))
@router.get(
    "/api/v1/heartbeat/{key}",
    openapi_extra=public_route("integration-key"),
    operation_id="heartbeat_get",
)
async def heartbeat(request: Request, key: str) -> dict[str, str]:
    """A job pings this URL; if it stops, an incident opens, and the next ping resolves it."""
    gateway = _gateway(request)
    known = await _authenticate(request, key, (IntegrationKind.HEARTBEAT,))
    gateway.check_rate(known)
    state = await service.record_ping(gateway, known)
    return {"status": "ok", "state": state}
