"""One error shape everywhere, and no 500 for bad input."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from app.core.auth import Role
from tests.factories import Factory


@pytest.fixture
async def admin_headers(factory: Factory) -> dict[str, str]:
    return (await factory.actor(Role.ADMIN)).headers


async def test_malformed_json_is_422_invalid_json(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    r = await client.post(
        "/api/v1/users",
        headers=admin_headers | {"content-type": "application/json"},
        content=b'{"name": "A", "email": ',
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_json"


async def test_a_body_that_is_not_json_is_415(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    r = await client.post(
        "/api/v1/users",
        headers=admin_headers | {"content-type": "text/plain"},
        content=b"name=A",
    )
    assert r.status_code == 415
    assert r.json()["code"] == "unsupported_media_type"


async def test_wrong_json_types_are_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for body in ([], "x", 5, {"name": 5, "email": ["a"]}):
        r = await client.post("/api/v1/users", headers=admin_headers, json=body)
        assert r.status_code == 422, body
        assert set(r.json()) >= {"code", "detail"}


async def test_bodies_over_one_mebibyte_are_413(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    big = json.dumps({"name": "x" * (1024 * 1024), "email": "a@example.com"})
    r = await client.post(
        "/api/v1/users",
        headers=admin_headers | {"content-type": "application/json"},
        content=big,
    )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


async def test_a_body_streamed_without_length_is_still_capped(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    async def chunks():
        for _ in range(20):
            yield b"x" * 100_000

    r = await client.post(
        "/api/v1/users",
        headers=admin_headers | {"content-type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413


async def test_unknown_routes_and_methods(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "detail": "Not Found"}
    wrong_method = await client.put("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


async def test_path_ids_must_be_integers(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    r = await client.get("/api/v1/users/abc", headers=admin_headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["path", "user_id"]


async def test_every_answer_carries_a_request_id_and_the_log_line_has_it(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="baton.access"):
        r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    record = next(rec for rec in caplog.records if rec.name == "baton.access")
    assert record.route == "/healthz" and record.status == 200
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"


def test_json_log_lines_carry_extras_and_the_request_id() -> None:
    from app.core.logging import JsonFormatter, request_id_var

    token = request_id_var.set("rid-1")
    try:
        record = logging.LogRecord(
            "baton.test", logging.WARNING, __file__, 1, "paged %s", ("bob",), None
        )
        record.incident_id = 42
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "paged bob"
    assert line["request_id"] == "rid-1"
    assert line["incident_id"] == 42
    assert line["level"] == "warning"


async def test_metrics_endpoint_speaks_prometheus(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert "text/plain" in r.headers["content-type"]
    assert 'baton_http_requests_total{method="GET",route="/healthz",status="200"}' in r.text


async def test_openapi_documents_the_api(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/users" in spec["paths"]
    assert "/api/v1/users/{user_id}/contact-methods/{method_id}/verify" in spec["paths"]


async def test_null_for_a_field_that_cannot_be_cleared_is_422_not_500(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    """Found by fuzzing the OpenAPI schema: a PATCH with ``"email": null``."""
    me = (await client.get("/api/v1/users/me", headers=admin_headers)).json()
    for body in ({"email": None, "name": "0"}, {"time_zone": None}, {"role": None}):
        r = await client.patch(f"/api/v1/users/{me['id']}", headers=admin_headers, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["loc"][:2] == ["body", next(iter(body))]
    unchanged = (await client.get("/api/v1/users/me", headers=admin_headers)).json()
    assert unchanged == me


async def test_null_clears_the_fields_that_may_be_cleared(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    team = (
        await client.post("/api/v1/teams", headers=admin_headers, json={"name": "t", "kind": "ops"})
    ).json()
    service = (
        await client.post(
            "/api/v1/services",
            headers=admin_headers,
            json={"name": "s", "team_id": team["id"], "ack_timeout_minutes": 30},
        )
    ).json()
    cleared = await client.patch(
        f"/api/v1/services/{service['id']}",
        headers=admin_headers,
        json={"ack_timeout_minutes": None},
    )
    assert cleared.status_code == 200 and cleared.json()["ack_timeout_minutes"] is None
    refused = await client.patch(
        f"/api/v1/services/{service['id']}", headers=admin_headers, json={"name": None}
    )
    assert refused.status_code == 422
