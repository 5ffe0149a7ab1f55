"""Every route declares what it needs: no token is 401, a viewer's write is 403, everywhere.

Routes that authenticate another way (integration keys, provider signatures, feed tokens) must
say so in their ``openapi_extra`` and be listed below, so a route cannot become public by
accident.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.core.auth import PUBLIC_AUTH_KEY, Role, current_principal

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# path -> how it authenticates instead of an API token
EXPECTED_PUBLIC_ROUTES: dict[str, str] = {
    "/healthz": "none",
    "/readyz": "none",
    "/metrics": "metrics-token",
    "/api/v1/calendars/{token}.ics": "feed-token",
    "/api/v1/integrations/alertmanager": "integration-key",
    "/api/v1/integrations/alertmanager/{key}": "integration-key",
    "/api/v1/integrations/grafana": "integration-key",
    "/api/v1/integrations/grafana/{key}": "integration-key",
    "/api/v1/integrations/generic": "integration-key",
    "/api/v1/integrations/generic/{key}": "integration-key",
    "/api/v1/integrations/pagerduty/v2/enqueue": "integration-key",
    "/api/v1/integrations/pagerduty/v2/change/enqueue": "integration-key",
    # GitHub posts the key in the URL; each delivery is signed with the webhook secret.
    "/api/v1/integrations/github": "integration-key-and-github-signature",
    "/api/v1/integrations/github/{key}": "integration-key-and-github-signature",
    "/api/v1/heartbeat/{key}": "integration-key",
    # An API token with write access, or an integration key of the service (a CI secret).
    "/api/v1/deployments": "api-token-or-integration-key",
    "/api/v1/twilio/sms/inbound": "twilio-signature",
    "/api/v1/twilio/sms/status": "twilio-signature",
    "/api/v1/twilio/voice/status": "twilio-signature",
    "/api/v1/twilio/voice/gather": "twilio-signature",
    "/api/v1/slack/interactions": "slack-signature",
    "/api/v1/slack/commands": "slack-signature",
}


class _Route:
    def __init__(self, path: str, route: APIRoute) -> None:
        self.path = path
        self.methods = route.methods
        self.openapi_extra = route.openapi_extra
        self.dependant = route.dependant


def _api_routes(app: FastAPI) -> list[_Route]:
    routes = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            routes.append(
                _Route(context.path or context.original_route.path, context.original_route)
            )
    return routes


def _needs_principal(dependant: Dependant) -> bool:
    if dependant.call is current_principal:
        return True
    return any(_needs_principal(d) for d in dependant.dependencies)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _requests(app: FastAPI) -> list[tuple[str, str]]:
    pairs = []
    for route in _api_routes(app):
        if route.openapi_extra and PUBLIC_AUTH_KEY in route.openapi_extra:
            continue
        for method in sorted(route.methods):
            pairs.append((method, _concrete(route.path)))
    return pairs


def test_public_routes_are_exactly_the_declared_ones(app: FastAPI) -> None:
    public = {
        r.path: r.openapi_extra[PUBLIC_AUTH_KEY]["kind"]
        for r in _api_routes(app)
        if r.openapi_extra and PUBLIC_AUTH_KEY in r.openapi_extra
    }
    assert public == EXPECTED_PUBLIC_ROUTES


def test_every_other_route_resolves_the_caller(app: FastAPI) -> None:
    missing = [
        f"{sorted(r.methods)} {r.path}"
        for r in _api_routes(app)
        if not (r.openapi_extra and PUBLIC_AUTH_KEY in r.openapi_extra)
        and not _needs_principal(r.dependant)
    ]
    assert missing == []


async def test_without_a_token_every_route_is_401(app: FastAPI, client: httpx.AsyncClient) -> None:
    requests = _requests(app)
    assert len(requests) > 20
    failures = []
    for method, path in requests:
        response = await client.request(method, path, json={})
        if response.status_code != 401 or response.json()["code"] != "unauthenticated":
            failures.append(f"{method} {path} -> {response.status_code}")
    assert failures == []


async def test_with_a_wrong_token_every_route_is_401(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    headers = {"Authorization": "Bearer baton_not-a-real-token"}
    failures = [
        f"{method} {path}"
        for method, path in _requests(app)
        if (await client.request(method, path, json={}, headers=headers)).status_code != 401
    ]
    assert failures == []


async def test_a_viewer_gets_403_on_every_write(
    app: FastAPI, client: httpx.AsyncClient, factory
) -> None:
    viewer = await factory.actor(Role.VIEWER)
    writes = [(m, p) for m, p in _requests(app) if m in WRITE_METHODS]
    assert len(writes) > 10
    failures = []
    for method, path in writes:
        response = await client.request(method, path, json={}, headers=viewer.headers)
        if response.status_code != 403 or response.json()["code"] != "forbidden":
            failures.append(f"{method} {path} -> {response.status_code}")
    assert failures == []


# Reads only admins may make: everything else is readable by every signed-in user.
ADMIN_ONLY_READS = {"/api/v1/audit"}


async def test_a_viewer_can_read(app: FastAPI, client: httpx.AsyncClient, factory) -> None:
    viewer = await factory.actor(Role.VIEWER)
    admin = await factory.actor(Role.ADMIN)
    reads = [(m, p) for m, p in _requests(app) if m == "GET"]
    failures = []
    for method, path in reads:
        response = await client.request(method, path, headers=viewer.headers)
        if path in ADMIN_ONLY_READS:
            admin_answer = await client.request(method, path, headers=admin.headers)
            if response.status_code != 403 or admin_answer.status_code in (401, 403):
                failures.append(f"{method} {path} -> {response.status_code} (admin only)")
        elif response.status_code in (401, 403):
            failures.append(f"{method} {path} -> {response.status_code}")
    assert failures == []


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "bearer  ", "Token baton_x"])
async def test_malformed_authorization_headers(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/api/v1/users", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
