"""Hostile input never gets a 500: numbers past 64 bits, JSON nested too deep, control
characters, senders that hang up, and the error shapes senders expect."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import update

from app.alerts.models import Alert
from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.core.jsondepth import MAX_JSON_DEPTH, TOO_DEEP_NOTE
from app.core.settings import Settings
from app.main import Overrides, create_app
from app.notify.console import ConsoleProvider
from tests.conftest import PUBLIC_URL
from tests.factories import Actor, Factory

TOO_BIG = 2**63  # one past the largest signed 64-bit integer


def nested(depth: int, leaf: str = "1") -> str:
    """JSON text: ``depth`` levels of arrays and objects around ``leaf`` (built as text: the
    test's own ``json.dumps`` would give up on the deepest)."""
    opening = "".join('{"a":' if level % 2 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return opening + leaf + closing


@dataclass
class Keys:
    admin: Actor
    service_id: int
    keys: dict[str, str]  # integration kind -> key


@pytest.fixture
async def setup(client: httpx.AsyncClient, factory: Factory) -> Keys:
    admin = await factory.actor(Role.ADMIN)
    team = await client.post(
        "/api/v1/teams", headers=admin.headers, json={"name": "ops", "kind": "ops"}
    )
    service = await client.post(
        "/api/v1/services",
        headers=admin.headers,
        json={"name": "api", "team_id": team.json()["id"]},
    )
    service_id = service.json()["id"]
    keys = {}
    for kind in ("generic", "alertmanager", "grafana", "pagerduty"):
        created = await client.post(
            f"/api/v1/services/{service_id}/integrations",
            headers=admin.headers,
            json={"kind": kind, "name": kind},
        )
        assert created.status_code == 201, created.text
        keys[kind] = created.json()["key"]
    return Keys(admin, service_id, keys)


def _locs(response: httpx.Response) -> list[list[str]]:
    return [[str(part) for part in error["loc"]] for error in response.json().get("errors", [])]


# ------------------------------------------------------------------------- 64-bit integers


async def test_an_id_past_64_bits_is_422_naming_it_in_paths_queries_and_bodies(
    client: httpx.AsyncClient, setup: Keys
) -> None:
    h = setup.admin.headers
    in_path = await client.get(f"/api/v1/incidents/{TOO_BIG}", headers=h)
    assert in_path.status_code == 422, in_path.text
    assert ["path", "incident_id"] in _locs(in_path)

    in_query = await client.get("/api/v1/incidents", params={"service_id": TOO_BIG}, headers=h)
    assert in_query.status_code == 422, in_query.text
    assert ["query", "service_id"] in _locs(in_query)

    in_body = await client.post(
        "/api/v1/incidents", headers=h, json={"service_id": TOO_BIG, "title": "x"}
    )
    assert in_body.status_code == 422, in_body.text
    assert ["body", "service_id"] in _locs(in_body)

    schedule = await client.post(
        "/api/v1/schedules", headers=h, json={"name": "s", "team_id": TOO_BIG}
    )
    assert ["body", "team_id"] in _locs(schedule)
    after = await client.get(
        f"/api/v1/incidents/{1}/timeline", params={"after_id": -TOO_BIG - 1}, headers=h
    )
    assert after.status_code == 422 and ["query", "after_id"] in _locs(after)


@pytest.mark.parametrize(
    "instant", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "9999-12-31T23:00:00Z"]
)
async def test_instants_at_the_ends_of_the_calendar_are_422(
    client: httpx.AsyncClient, setup: Keys, instant: str
) -> None:
    """Found probing the schedule answers: a window added to year 9999 left Python's calendar."""
    h = setup.admin.headers
    team_id = (await client.get("/api/v1/teams", headers=h)).json()["items"][0]["id"]
    schedule = await client.post(
        "/api/v1/schedules", headers=h, json={"name": "s", "team_id": team_id}
    )
    base = f"/api/v1/schedules/{schedule.json()['id']}"
    on_call = await client.get("/api/v1/oncall", headers=h, params={"at": instant})
    assert on_call.status_code == 422 and ["query", "at"] in _locs(on_call)
    shifts = await client.get(f"{base}/final-schedule", headers=h, params={"start": instant})
    assert shifts.status_code == 422 and ["query", "start"] in _locs(shifts)
    override = await client.post(
        f"{base}/overrides",
        headers=h,
        json={"user_id": setup.admin.id, "start": "2026-03-02T10:00:00Z", "end": instant},
    )
    assert override.status_code == 422 and ["body", "end"] in _locs(override)


def _id_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path, id parameter) for every route with an id in its path."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        path = context.path or route.path
        for name in re.findall(r"\{(\w+_id)\}", path):
            found += [(method, path, name) for method in sorted(route.methods)]
    return found


def _with_too_big(template: str, name: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(TOO_BIG) if m[1] == name else "1", template)


async def test_every_route_refuses_an_id_past_64_bits_with_422(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await factory.actor(Role.ADMIN)
    routes = _id_routes(app)
    assert len(routes) > 60
    failures = []
    for method, template, name in routes:
        response = await client.request(
            method, _with_too_big(template, name), headers=admin.headers, json={}
        )
        if response.status_code != 422 or ["path", name] not in _locs(response):
            failures.append(f"{method} {template} ({name}) -> {response.status_code}")
    assert failures == []


async def test_no_integer_in_the_api_is_unbounded(client: httpx.AsyncClient) -> None:
    """Every integer a request can carry (path, query, body) has a documented maximum, so none
    reaches the database driver too large for it."""
    spec = (await client.get("/openapi.json")).json()
    components = spec["components"]["schemas"]
    unbounded: list[str] = []

    def walk(node: Any, where: str, seen: frozenset[str]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, where, seen)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                walk(components[name], f"{where} -> {name}", seen | {name})
            return
        if node.get("type") == "integer" and not ("maximum" in node or "exclusiveMaximum" in node):
            unbounded.append(where)
        for key in ("properties", "items", "anyOf", "allOf", "oneOf", "additionalProperties"):
            child = node.get(key)
            if isinstance(child, dict) and key == "properties":
                for prop, schema in child.items():
                    walk(schema, f"{where}.{prop}", seen)
            elif child is not None:
                walk(child, where, seen)

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                walk(
                    parameter["schema"],
                    f"{label} {parameter['in']}.{parameter['name']}",
                    frozenset(),
                )
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                walk(media.get("schema", {}), f"{label} body", frozenset())
    assert unbounded == []


# ------------------------------------------------------------------------ deep nesting


async def test_json_nested_past_the_limit_is_422_on_api_routes(
    client: httpx.AsyncClient, setup: Keys
) -> None:
    h = setup.admin.headers
    h = h | {"Content-Type": "application/json"}
    for depth in (MAX_JSON_DEPTH + 1, 1000, 5000):
        body = f'{{"name": {nested(depth - 1)}, "email": "deep@example.com"}}'
        response = await client.post("/api/v1/users", headers=h, content=body)
        assert response.status_code == 422, (depth, response.text)
        assert response.json()["code"] == "json_too_deep"
    at_the_limit = await client.post(
        "/api/v1/users",
        headers=h,
        content=f'{{"name": {nested(MAX_JSON_DEPTH - 1)}, "email": "a@b.cd"}}',
    )
    assert at_the_limit.status_code == 422
    assert at_the_limit.json()["code"] == "validation_error", "the limit itself is allowed"
    brackets_in_strings = await client.post(
        "/api/v1/users", headers=h, json={"name": "[" * 90 + "{" * 90, "email": "b@b.cd"}
    )
    assert brackets_in_strings.status_code == 201, brackets_in_strings.text


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000])
async def test_json_nested_past_the_limit_is_refused_by_every_alert_endpoint(
    client: httpx.AsyncClient, setup: Keys, depth: int
) -> None:
    deep = nested(depth)
    am_alert = f'{{"status": "firing", "labels": {{"alertname": "Deep"}}, "annotations": {deep}}}'
    sends = {
        "generic": f'{{"summary": "deep", "details": {{"x": {deep}}}}}',
        "alertmanager": f'{{"version": "4", "status": "firing", "alerts": [{am_alert}]}}',
        "grafana": f'{{"version": "1", "status": "firing", "alerts": [{am_alert}]}}',
    }
    for kind, body in sends.items():
        response = await client.post(
            f"/api/v1/integrations/{kind}",
            headers={"Authorization": f"Bearer {setup.keys[kind]}"},
            content=body,
        )
        assert response.status_code == 422, (kind, response.text)
        assert response.json()["code"] == "invalid_payload"
        assert f"deeper than {MAX_JSON_DEPTH}" in response.json()["detail"]
    pagerduty = await client.post(
        "/api/v1/integrations/pagerduty/v2/enqueue",
        content=(
            f'{{"routing_key": "{setup.keys["pagerduty"]}", "event_action": "trigger", '
            f'"payload": {{"summary": "deep", "source": "db1", "severity": "critical", '
            f'"custom_details": {deep}}}}}'
        ),
    )
    assert pagerduty.status_code == 400, pagerduty.text  # PagerDuty's status for a bad event
    assert pagerduty.json()["status"] == "invalid event"
    incidents = await client.get("/api/v1/incidents", headers=setup.admin.headers)
    assert incidents.json()["items"] == [], "nothing was stored"


async def test_alert_details_stored_too_deep_still_read(
    client: httpx.AsyncClient, setup: Keys, db: Database
) -> None:
    """Rows stored before the limit existed must not make their incident unreadable."""
    sent = await client.post(
        "/api/v1/integrations/generic",
        headers={"Authorization": f"Bearer {setup.keys['generic']}"},
        json={"summary": "disk full", "details": {"host": "db1"}},
    )
    assert sent.status_code == 202, sent.text
    [incident_id] = sent.json()["incidents"]
    async with db.transaction() as session:
        await session.execute(update(Alert).values(details={"trace": json.loads(nested(300))}))
    response = await client.get(f"/api/v1/incidents/{incident_id}", headers=setup.admin.headers)
    assert response.status_code == 200, response.text
    text = json.dumps(response.json()["alerts"][0]["details"])
    assert TOO_DEEP_NOTE in text
    assert text.count("[") + text.count("{") <= MAX_JSON_DEPTH


# ------------------------------------------------------------------ control characters


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/users", {"name": "Eve\x00", "email": "eve@example.com"}, "name"),
        ("/api/v1/users", {"name": "Eve\u202egnp.exe", "email": "eve@example.com"}, "name"),
        (
            "/api/v1/teams",
            {"name": "t1", "kind": "ops", "description": "a\x1b[31mb"},
            "description",
        ),
        ("/api/v1/schedules", {"name": "pri\nmary", "team_id": 1}, "name"),
        ("/api/v1/incidents", {"service_id": 1, "title": "down\x00"}, "title"),
        ("/api/v1/incidents", {"service_id": 1, "title": "down", "details": "\x07"}, "details"),
        ("/api/v1/tokens", {"name": "ci\u2066"}, "name"),
    ],
)
async def test_control_and_bidi_characters_in_human_text_are_422(
    client: httpx.AsyncClient, setup: Keys, path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(path, headers=setup.admin.headers, json=body)
    assert response.status_code == 422, response.text
    assert ["body", field] in _locs(response)


async def test_line_breaks_stay_allowed_in_multi_line_text(
    client: httpx.AsyncClient, setup: Keys
) -> None:
    team = await client.post(
        "/api/v1/teams",
        headers=setup.admin.headers,
        json={"name": "t2", "kind": "ops", "description": "line one\n\tline two"},
    )
    assert team.status_code == 201, team.text


async def test_control_characters_in_what_sources_send_are_replaced_not_refused(
    client: httpx.AsyncClient, setup: Keys
) -> None:
    sent = await client.post(
        "/api/v1/integrations/generic",
        headers={"Authorization": f"Bearer {setup.keys['generic']}"},
        json={
            "summary": "disk\x00 full\u202e on\ndb1\x1b[0m",
            "source": "host\x00",
            "details": {"log\x00": "a\x00b", "trace": ["x\u2066", "line\nbreak"]},
        },
    )
    assert sent.status_code == 202, sent.text
    [incident_id] = sent.json()["incidents"]
    incident = await client.get(f"/api/v1/incidents/{incident_id}", headers=setup.admin.headers)
    assert incident.status_code == 200
    alert = incident.json()["alerts"][0]
    assert alert["summary"] == "disk\ufffd full\ufffd on db1\ufffd[0m"
    assert alert["source"] == "host\ufffd"
    assert alert["details"] == {"log\ufffd": "a\ufffdb", "trace": ["x\ufffd", "line\nbreak"]}
    assert "\x00" not in incident.json()["title"]


async def test_a_nul_in_the_url_is_422(client: httpx.AsyncClient, setup: Keys) -> None:
    for path in ("/api/v1/users?q=a%00b", "/api/v1/calendars/a%00b.ics", "/api/v1/heartbeat/%00"):
        response = await client.get(path, headers=setup.admin.headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["code"] == "invalid_input"


# ------------------------------------------------------------------------ the 500 answer


@pytest.fixture
async def failing_app(
    settings: Settings, clock: ManualClock, db: Database, console: ConsoleProvider
) -> AsyncIterator[FastAPI]:
    broken = APIRouter()

    @broken.get("/broken")
    async def explode() -> None:
        raise RuntimeError("a bug")

    application = create_app(
        settings,
        clock=clock,
        overrides=Overrides(database=db, providers={"console": console}, routers=[broken]),
    )
    async with application.router.lifespan_context(application):
        yield application


async def test_a_500_carries_the_request_id_in_body_and_header(
    failing_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    transport = httpx.ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
        with caplog.at_level(logging.ERROR):
            given = await http.get("/broken", headers={"X-Request-ID": "req-500"})
            generated = await http.get("/broken")
    assert given.status_code == 500
    assert given.json() == {
        "code": "internal_error",
        "detail": "something went wrong on our side",
        "request_id": "req-500",
    }
    assert given.headers["x-request-id"] == "req-500"
    assert generated.status_code == 500
    assert generated.json()["request_id"] == generated.headers["x-request-id"] != ""
    assert [r.msg for r in caplog.records if r.levelno >= logging.ERROR] == ["unhandled error"] * 2


# ----------------------------------------------------------------- senders that hang up


async def _hang_up_midway(app: FastAPI, path: str, headers: dict[str, str]) -> list[Any]:
    """Call the app as a server would for a sender that sends half its body and leaves."""
    messages = iter(
        [
            {"type": "http.request", "body": b'{"summary": "disk', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"baton.test"),
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
            *raw_headers,
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("baton.test", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return sent


async def test_a_sender_hanging_up_mid_body_is_one_warning_without_traceback(
    app: FastAPI, setup: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    generic = {"Authorization": f"Bearer {setup.keys['generic']}"}
    with caplog.at_level(logging.INFO):
        await _hang_up_midway(app, "/api/v1/integrations/generic", generic)
        await _hang_up_midway(app, "/api/v1/users", setup.admin.headers)
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert problems == []
    hang_ups = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert [r.levelno for r in hang_ups] == [logging.WARNING, logging.WARNING]
    access = [r for r in caplog.records if r.name == "baton.access"]
    assert [r.status for r in access] == [499, 499]


# --------------------------------------------------------------------- PagerDuty's shape


async def test_pagerduty_errors_come_in_pagerdutys_own_shape(
    client: httpx.AsyncClient, setup: Keys
) -> None:
    event = {
        "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db1", "severity": "critical"},
    }
    path = "/api/v1/integrations/pagerduty/v2/enqueue"
    unknown = await client.post(path, json={**event, "routing_key": "u" * 32})
    assert unknown.status_code == 400, unknown.text
    body = unknown.json()
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert body["errors"] == ["Invalid routing key"]
    assert body["code"] == "invalid_routing_key" and body["detail"]
    invalid = await client.post(path, json={"routing_key": setup.keys["pagerduty"]})
    assert invalid.status_code == 400
    assert invalid.json()["status"] == "invalid event"
    assert all(isinstance(error, str) for error in invalid.json()["errors"])
    accepted = await client.post(path, json={**event, "routing_key": setup.keys["pagerduty"]})
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "success"


# ------------------------------------------------------------------------- the document


async def test_openapi_documents_the_real_error_body(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"code", "detail"}
    assert error["properties"]["detail"]["type"] == "string"
    operation = spec["paths"]["/api/v1/incidents/{incident_id}"]["get"]
    assert operation["responses"]["4XX"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
