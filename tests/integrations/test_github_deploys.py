"""GitHub deployment_status webhooks as deploys: the webhook secret, the signature, the state
mapping, redeliveries, and that a deploy pages nobody."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.clock import ManualClock
from app.core.db import Database
from app.integrations.formats import github
from app.integrations.models import Integration
from app.integrations.service import webhook_secret_box
from tests.factories import Factory
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine, add_contact, api, fixture_bytes, fixture_json, integration
from tests.worlds import PaymentsWorld, build_payments_world

# tests/fixtures/github/README.md: the test secret and the signature of the fixture's bytes.
SECRET = "baton-test-github-webhook-secret"
FIXTURE = "github/deployment_status_success.json"
FIXTURE_SIGNATURE = "sha256=e129de420d5c76f352d230d377d31b8cc2cf4e9c4d84f446f7493ae0b7370013"
DEPLOYMENT_CREATED = datetime(2027, 3, 1, 10, 5, tzinfo=UTC)
STATUS_CREATED = datetime(2027, 3, 1, 10, 12, tzinfo=UTC)


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    factory: Factory,
    webhook_receiver: WebhookReceiver,
    clock: ManualClock,
) -> PaymentsWorld:
    """payments-api with Alice and Bob on webhook pagers: anything paged would show."""
    built = await build_payments_world(client, factory)
    for name, user in built.members.items():
        await add_contact(
            client, built.admin, user.id, "webhook", webhook_receiver.url_for(f"/{name.lower()}")
        )
    clock.set(datetime(2027, 3, 1, 10, 15, tzinfo=UTC))
    return built


@pytest.fixture
async def hook(client: httpx.AsyncClient, world: PaymentsWorld) -> dict[str, Any]:
    """The GitHub integration, as its creator was shown it once."""
    return await integration(
        client, world.admin, world.service["id"], "github", webhook_secret=SECRET
    )


@pytest.fixture
def engine(app, db, clock: ManualClock) -> Engine:
    return Engine(app, db, clock)


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(
    client: httpx.AsyncClient,
    hook: dict[str, Any],
    body: bytes,
    *,
    event: str = "deployment_status",
    signature: str | bytes | None = "",
    delivery: str | None = None,
) -> httpx.Response:
    """POST as GitHub does: to the URL with the key, signed unless told otherwise."""
    headers: dict[str, str | bytes] = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "User-Agent": "GitHub-Hookshot/test",
    }
    if signature == "":
        signature = signed(body)
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return await client.post(hook["url_with_key"], content=body, headers=headers)


def status_event(state: str, *, deployment_id: int = 700001, **status: Any) -> bytes:
    data = fixture_json(FIXTURE)
    data["deployment"]["id"] = deployment_id
    data["deployment_status"].update(state=state, **status)
    return json.dumps(data).encode()


async def deploys(client: httpx.AsyncClient, world: PaymentsWorld) -> list[dict[str, Any]]:
    page = await api(
        client,
        world.admin,
        "GET",
        "/api/v1/deployments",
        params={"service_id": world.service["id"]},
    )
    return page["items"]


async def test_the_fixture_s_signature_is_github_s() -> None:
    body = fixture_bytes(FIXTURE)
    assert signed(body) == FIXTURE_SIGNATURE
    github.verify_signature(body, FIXTURE_SIGNATURE, SECRET)
    with pytest.raises(github.BadSignature):
        github.verify_signature(body + b" ", FIXTURE_SIGNATURE, SECRET)


async def test_a_github_integration_keeps_its_secret_to_itself(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any], db: Database, app
) -> None:
    assert hook["kind"] == "github"
    assert hook["signed"] is True
    assert hook["url"] == "http://baton.test/api/v1/integrations/github"
    assert hook["url_with_key"] == f"http://baton.test/api/v1/integrations/github/{hook['key']}"
    assert SECRET not in json.dumps(hook), "write-only"
    listed = await api(
        client, world.admin, "GET", f"/api/v1/services/{world.service['id']}/integrations"
    )
    assert SECRET not in json.dumps(listed)
    async with db.new_session() as session:
        row = await session.scalar(select(Integration).where(Integration.id == hook["id"]))
    assert row is not None and row.webhook_secret_encrypted
    assert SECRET not in row.webhook_secret_encrypted, "stored encrypted"
    box = webhook_secret_box(app.state.settings.secret_key.get_secret_value())
    assert box.decrypt(row.webhook_secret_encrypted) == SECRET
    audit = await api(client, world.admin, "GET", "/api/v1/audit")
    assert any(record["entity_id"] == hook["id"] for record in audit["items"])
    assert row.webhook_secret_encrypted not in json.dumps(audit), "the audit log redacts it"


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"kind": "github", "name": "gh"}, "needs the webhook_secret"),
        ({"kind": "github", "name": "gh", "webhook_secret": "tiny-secret"}, "webhook_secret"),
        (
            {"kind": "generic", "name": "scripts", "webhook_secret": SECRET},
            "only applies to GitHub",
        ),
    ],
)
async def test_the_webhook_secret_is_for_github_and_required_there(
    client: httpx.AsyncClient, world: PaymentsWorld, body: dict[str, Any], complaint: str
) -> None:
    answer = await client.post(
        f"/api/v1/services/{world.service['id']}/integrations",
        json=body,
        headers=world.admin.headers,
    )
    assert answer.status_code == 422
    assert complaint in answer.text
    assert SECRET not in answer.text and "tiny-secret" not in answer.text


async def test_a_signed_deployment_status_is_a_deploy(
    client: httpx.AsyncClient,
    world: PaymentsWorld,
    hook: dict[str, Any],
    engine: Engine,
    webhook_receiver: WebhookReceiver,
) -> None:
    answer = await deliver(client, hook, fixture_bytes(FIXTURE), signature=FIXTURE_SIGNATURE)
    assert answer.status_code == 200, answer.text
    [deploy] = await deploys(client, world)
    assert answer.json() == {
        "status": "ok",
        "deployment_id": deploy["id"],
        "deploy_status": "succeeded",
        "created": True,
        "changed": True,
    }
    assert deploy["source"] == "github"
    assert deploy["external_id"] == "github:700001"
    assert deploy["version"] == "v1.4.2", "the ref, with no payload.version"
    assert deploy["commit_sha"] == "9f2c1e7b4a0d3c5e8f1a2b3c4d5e6f708192a3b4"
    assert deploy["environment"] == "production"
    assert deploy["deployer_name"] == "dina-dev"
    assert deploy["repository_url"] == "https://github.com/example-org/payments-api"
    assert deploy["summary"] == "Deployed v1.4.2 to production"
    assert deploy["status"] == "succeeded"
    assert datetime.fromisoformat(deploy["started_at"]) == DEPLOYMENT_CREATED
    assert datetime.fromisoformat(deploy["finished_at"]) == STATUS_CREATED
    run = "https://github.com/example-org/payments-api/actions/runs/9000001"
    assert deploy["links"] == [
        {"href": run, "text": "Logs"},  # the target_url is the same: one link
        {"href": "https://payments.example.com", "text": "Environment"},
    ]
    assert deploy["details"]["repository"] == "example-org/payments-api"
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    incidents = await api(client, world.admin, "GET", "/api/v1/incidents")
    assert incidents["items"] == [], "a deploy opens no incident and pages nobody"


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",  # signed() of the body below, but with another secret: see the test
        "sha256=" + "0" * 64,
        "sha1=e129de420d5c76f352d230d377d31b8cc2cf4e9c4d84f446f7493ae0b7370013",
        "sha256=",
        "sha256=ünïcode".encode("latin-1"),  # a header is bytes: Starlette reads latin-1
    ],
)
async def test_a_delivery_not_signed_with_the_secret_stores_nothing(
    client: httpx.AsyncClient,
    world: PaymentsWorld,
    hook: dict[str, Any],
    signature: str | bytes | None,
) -> None:
    body = fixture_bytes(FIXTURE)
    if signature == "":
        signature = signed(body, "another-secret-of-some-length")
    answer = await deliver(client, hook, body, signature=signature)
    assert answer.status_code == 401
    assert answer.json()["code"] == "bad_signature"
    assert SECRET not in answer.text
    assert await deploys(client, world) == []


async def test_a_body_changed_after_signing_stores_nothing(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any]
) -> None:
    tampered = fixture_bytes(FIXTURE).replace(b"v1.4.2", b"v6.6.6")
    answer = await deliver(client, hook, tampered, signature=FIXTURE_SIGNATURE)
    assert (answer.status_code, answer.json()["code"]) == (401, "bad_signature")
    assert await deploys(client, world) == []


async def test_an_unknown_key_or_another_kind_s_key_is_refused(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any]
) -> None:
    body = fixture_bytes(FIXTURE)
    for key in ("z" * 32, world.key):  # the world's generic alert key
        wrong = {**hook, "url_with_key": f"/api/v1/integrations/github/{key}"}
        answer = await deliver(client, wrong, body)
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthenticated"
    assert await deploys(client, world) == []


async def test_the_key_may_come_as_a_bearer_token(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any]
) -> None:
    body = fixture_bytes(FIXTURE)
    answer = await client.post(
        hook["url"],
        content=body,
        headers={
            "Authorization": f"Bearer {hook['key']}",
            "X-GitHub-Event": "deployment_status",
            "X-Hub-Signature-256": signed(body),
        },
    )
    assert answer.status_code == 200
    assert len(await deploys(client, world)) == 1


async def test_ping_is_answered_and_other_events_are_ignored(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any]
) -> None:
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook": {"events": ["*"]}}).encode()
    answer = await deliver(client, hook, ping, event="ping")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok", "message": "pong"})
    push_only = json.dumps({"hook": {"events": ["push"]}}).encode()
    warned = await deliver(client, hook, push_only, event="ping")
    assert warned.status_code == 200
    assert "not subscribed to Deployment statuses" in warned.json()["warning"]
    unsigned_ping = await deliver(client, hook, ping, event="ping", signature=None)
    assert unsigned_ping.status_code == 401, "a ping is signed too"

    push_body = json.dumps({"ref": "refs/heads/main"}).encode()
    push = await deliver(client, hook, push_body, event="push")
    assert push.status_code == 202
    assert push.json()["status"] == "ignored"
    assert "deployment_status events only" in push.json()["reason"]
    assert await deploys(client, world) == []


async def test_the_statuses_of_one_deployment_move_one_deploy_forward(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any], clock: ManualClock
) -> None:
    queued = await deliver(client, hook, status_event("queued", created_at="2027-03-01T10:05:10Z"))
    assert queued.json()["created"] is True
    running = await deliver(
        client, hook, status_event("in_progress", created_at="2027-03-01T10:06:00Z")
    )
    assert (running.json()["created"], running.json()["changed"]) == (False, False)
    [deploy] = await deploys(client, world)
    assert (deploy["status"], deploy["finished_at"]) == ("started", None)
    assert datetime.fromisoformat(deploy["started_at"]) == DEPLOYMENT_CREATED

    delivery = str(uuid.uuid4())
    success = status_event("success")
    done = await deliver(client, hook, success, delivery=delivery)
    assert done.json() == {
        "status": "ok",
        "deployment_id": deploy["id"],
        "deploy_status": "succeeded",
        "created": False,
        "changed": True,
    }
    # GitHub's "Redeliver": the same body, the same delivery id.
    again = await deliver(client, hook, success, delivery=delivery)
    assert (again.status_code, again.json()["changed"]) == (200, False)
    late = await deliver(client, hook, status_event("in_progress"))
    assert late.json()["changed"] is False, "an older status changes nothing"
    inactive = await deliver(client, hook, status_event("inactive"))
    assert inactive.status_code == 202
    assert inactive.json()["status"] == "ignored"
    assert "inactive" in inactive.json()["reason"]

    [deploy] = await deploys(client, world)
    assert deploy["status"] == "succeeded"
    assert datetime.fromisoformat(deploy["finished_at"]) == STATUS_CREATED


@pytest.mark.parametrize("state", ["failure", "error"])
async def test_failure_and_error_fail_the_deploy(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any], state: str
) -> None:
    await deliver(client, hook, status_event("pending", deployment_id=800002))
    answer = await deliver(client, hook, status_event(state, deployment_id=800002))
    assert answer.json()["deploy_status"] == "failed"
    [deploy] = await deploys(client, world)
    assert (deploy["status"], deploy["external_id"]) == ("failed", "github:800002")


async def test_an_unknown_state_or_a_lone_inactive_stores_nothing(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any]
) -> None:
    for state in ("inactive", "exploded"):
        answer = await deliver(client, hook, status_event(state))
        assert (answer.status_code, answer.json()["status"]) == (202, "ignored")
    assert await deploys(client, world) == []


@pytest.mark.parametrize("payload", [{"version": "1.4.2+build.9"}, '{"version": "1.4.2+build.9"}'])
async def test_the_deployment_payload_s_version_comes_before_the_ref(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any], payload: Any
) -> None:
    data = fixture_json(FIXTURE)
    data["deployment"]["payload"] = payload
    await deliver(client, hook, json.dumps(data).encode())
    [deploy] = await deploys(client, world)
    assert deploy["version"] == "1.4.2+build.9"


async def test_a_bot_s_status_names_the_person_who_deployed(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any]
) -> None:
    data = fixture_json(FIXTURE)
    data["deployment"]["creator"] = {"login": "github-actions[bot]"}
    data["deployment_status"]["creator"] = {"login": "github-actions[bot]"}
    data["sender"] = {"login": "alice"}
    await deliver(client, hook, json.dumps(data).encode())
    [deploy] = await deploys(client, world)
    assert deploy["deployer_name"] == "alice"


async def test_an_invalid_deployment_status_is_refused(
    client: httpx.AsyncClient, world: PaymentsWorld, hook: dict[str, Any]
) -> None:
    data = fixture_json(FIXTURE)
    broken = copy.deepcopy(data)
    del broken["deployment"]["id"]
    answer = await deliver(client, hook, json.dumps(broken).encode())
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_payload"
    assert "'deployment.id' is missing" in answer.json()["errors"]
    future = copy.deepcopy(data)
    future["deployment"]["created_at"] = "2030-01-01T00:00:00Z"
    ahead = await deliver(client, hook, json.dumps(future).encode())
    assert (ahead.status_code, ahead.json()["code"]) == (400, "timestamp_in_future")
    assert await deploys(client, world) == []
