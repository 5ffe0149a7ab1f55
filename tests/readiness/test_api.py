"""The readiness API's rules and refusals: checklists, sign-offs, hand-over, handback, the
nightly job once across replicas, and the gauge."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from app.core.clock import ManualClock
from app.core.db import Database
from app.people.models import TeamKind
from app.readiness import nightly
from app.readiness.checklist import DEFAULT_ITEMS
from app.readiness.models import Evaluation, HandbackProposal, RequestState
from tests.factories import Actor, Factory
from tests.paging import api
from tests.worlds import PaymentsWorld, build_payments_world

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def default_items() -> list[dict[str, Any]]:
    return [
        {
            "key": i.key,
            "title": i.title,
            "kind": i.kind.value,
            "weight": i.weight,
            "required": i.required,
            "check": i.check,
            "params": dict(i.params),
        }
        for i in DEFAULT_ITEMS
    ]


class Setup:
    def __init__(
        self, world: PaymentsWorld, ops: dict[str, Any], olga: Actor, dev: dict[str, Any]
    ) -> None:
        self.world = world
        self.ops = ops
        self.olga = olga
        self.dev = dev

    @property
    def service_id(self) -> int:
        return int(self.world.service["id"])


@pytest.fixture
async def setup(client: httpx.AsyncClient, factory: Factory) -> Setup:
    world = await build_payments_world(client, factory)
    dev = await api(
        client, world.admin, "POST", "/api/v1/teams", json={"name": "payments", "kind": "dev"}
    )
    await api(
        client,
        world.admin,
        "PATCH",
        f"/api/v1/services/{world.service['id']}",
        json={"team_id": dev["id"]},
    )
    for member in (world.alice, world.bob):
        await api(
            client,
            world.admin,
            "POST",
            f"/api/v1/teams/{dev['id']}/members",
            json={"user_id": member.id},
        )
    ops = await api(
        client, world.admin, "POST", "/api/v1/teams", json={"name": "ops", "kind": "ops"}
    )
    olga = await factory.actor(name="Olga", email="olga@example.com")
    await api(
        client, world.admin, "POST", f"/api/v1/teams/{ops['id']}/members", json={"user_id": olga.id}
    )
    return Setup(world, ops, olga, dev)


async def test_checklists_are_refused_unless_weights_are_in_range_and_sum_to_100(
    client: httpx.AsyncClient, setup: Setup
) -> None:
    admin = setup.world.admin.headers
    items = default_items()
    items[0]["weight"] = 101
    response = await client.put("/api/v1/readiness/checklist", json={"items": items}, headers=admin)
    assert response.status_code == 422 and response.json()["code"] == "validation_error"
    items = default_items()
    items[0]["weight"] = 4
    response = await client.put("/api/v1/readiness/checklist", json={"items": items}, headers=admin)
    assert response.status_code == 422
    assert "the weights sum to 99, not 100" in response.json()["detail"]
    # A team's addition must leave its merged checklist at 100.
    extra = [{"key": "pci", "title": "PCI review", "kind": "sign_off", "weight": 5}]
    team = f"/api/v1/teams/{setup.dev['id']}/readiness/checklist"
    response = await client.put(team, json={"items": extra}, headers=admin)
    assert response.status_code == 422 and "sum to 105" in response.json()["detail"]
    rebalanced = [
        *extra,
        {
            "key": "capacity",
            "title": "Capacity plan",
            "kind": "sign_off",
            "weight": 0,
            "required": False,
        },
    ]
    merged = await api(client, setup.world.admin, "PUT", team, json={"items": rebalanced})
    assert sum(i["weight"] for i in merged["items"]) == 100
    assert merged["items"][-1]["key"] == "pci"
    # The organisation's checklist cannot change under a team so that the team's breaks.
    items = default_items()
    items[-1]["weight"] = 0
    items[0]["weight"] += 5
    ok = await client.put("/api/v1/readiness/checklist", json={"items": items}, headers=admin)
    assert ok.status_code == 200
    # Nobody but an admin sets the organisation's checklist.
    refused = await client.put(
        "/api/v1/readiness/checklist", json={"items": items}, headers=setup.olga.headers
    )
    assert refused.status_code == 403
    # Nothing was half written: the checklist is the last accepted one.
    stored = await api(client, setup.world.admin, "GET", "/api/v1/readiness/checklist")
    assert [i["weight"] for i in stored["items"]] == [i["weight"] for i in items]


async def test_sign_offs_only_by_the_owner_or_ops_team(
    client: httpx.AsyncClient, setup: Setup, factory: Factory
) -> None:
    path = f"/api/v1/services/{setup.service_id}/readiness/sign-offs"
    outsider = await factory.actor(name="Xavier")
    refused = await client.put(
        f"{path}/monitoring", json={"comment": "ok"}, headers=outsider.headers
    )
    assert refused.status_code == 403 and "Xavier" in refused.json()["detail"]
    unknown = await client.put(f"{path}/runbook", json={}, headers=setup.world.alice.headers)
    assert unknown.status_code == 422  # an automatic item is not signed off
    signed = await api(
        client, setup.olga, "PUT", f"{path}/monitoring", json={"comment": "dashboards ok"}
    )
    assert (signed["signed_by_name"], signed["signed_on"]) == ("Olga", "2026-05-04")
    # An admin may record a sign-off in a member's name, but not an outsider's.
    in_name = await client.put(
        f"{path}/rollback", json={"signed_by_id": outsider.id}, headers=setup.world.admin.headers
    )
    assert in_name.status_code == 403
    await api(
        client,
        setup.world.admin,
        "PUT",
        f"{path}/rollback",
        json={"signed_by_id": setup.world.bob.id},
    )
    view = await api(
        client, setup.world.admin, "GET", f"/api/v1/services/{setup.service_id}/readiness"
    )
    assert {s["item_key"]: s["signed_by_name"] for s in view["sign_offs"]} == {
        "monitoring": "Olga",
        "rollback": "Bob",
    }
    await api(client, setup.olga, "DELETE", f"{path}/monitoring")
    view = await api(
        client, setup.world.admin, "GET", f"/api/v1/services/{setup.service_id}/readiness"
    )
    assert [s["item_key"] for s in view["sign_offs"]] == ["rollback"]


async def test_hand_over_refusals_override_and_keeping_the_developers(
    client: httpx.AsyncClient, setup: Setup
) -> None:
    world = setup.world
    ops_policy = await api(
        client,
        world.admin,
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "ops",
            "team_id": setup.ops["id"],
            "steps": [
                {"delay_minutes": 5, "targets": [{"kind": "user", "user_id": setup.olga.id}]}
            ],
        },
    )
    request = await api(
        client,
        world.alice,
        "POST",
        f"/api/v1/services/{setup.service_id}/handover",
        json={"ops_team_id": setup.ops["id"]},
    )
    again = await client.post(
        f"/api/v1/services/{setup.service_id}/handover",
        json={"ops_team_id": setup.ops["id"]},
        headers=world.alice.headers,
    )
    assert again.status_code == 409
    accept = f"/api/v1/handover-requests/{request['id']}/accept"
    failing = await client.post(
        accept, json={"escalation_policy_id": ops_policy["id"]}, headers=setup.olga.headers
    )
    assert failing.status_code == 409
    assert "self_managed" in failing.json()["failing_items"]
    # Only admins override, and only with a reason.
    by_ops = await client.post(
        accept,
        json={"escalation_policy_id": ops_policy["id"], "override_reason": "launch day"},
        headers=setup.olga.headers,
    )
    assert by_ops.status_code == 403
    # Someone outside the Ops team cannot accept at all.
    by_dev = await client.post(
        accept, json={"escalation_policy_id": ops_policy["id"]}, headers=world.alice.headers
    )
    assert by_dev.status_code == 403
    unchanged = await api(client, world.admin, "GET", f"/api/v1/services/{setup.service_id}")
    assert (unchanged["support_model"], unchanged["escalation_policy_id"]) == (
        "dev",
        world.policy["id"],
    )
    done = await api(
        client,
        world.admin,
        "POST",
        accept,
        json={
            "escalation_policy_id": ops_policy["id"],
            "keep_developers": True,
            "override_reason": "launch day",
        },
    )
    assert done["overridden"] and done["reason"] == "launch day"
    moved = await api(client, world.admin, "GET", f"/api/v1/services/{setup.service_id}")
    assert moved["support_model"] == "ops" and moved["developer_policy_id"] == world.policy["id"]
    combined = await api(
        client, world.admin, "GET", f"/api/v1/escalation-policies/{moved['escalation_policy_id']}"
    )
    # Ops's step first, then the developers' first step (Alice).
    assert [[t.get("user_id") for t in s["targets"]] for s in combined["steps"]] == [
        [setup.olga.id],
        [world.alice.id],
    ]
    twice = await client.post(
        accept, json={"escalation_policy_id": ops_policy["id"]}, headers=world.admin.headers
    )
    assert twice.status_code == 409
    # A handback needs a reason and someone from Ops.
    back = f"/api/v1/services/{setup.service_id}/handback"
    assert (
        await client.post(back, json={"reason": ""}, headers=setup.olga.headers)
    ).status_code == 422
    assert (
        await client.post(back, json={"reason": "fragile"}, headers=world.alice.headers)
    ).status_code == 403
    returned = await api(client, setup.olga, "POST", back, json={"reason": "fragile"})
    assert returned["to_policy_id"] == world.policy["id"]
    home = await api(client, world.admin, "GET", f"/api/v1/services/{setup.service_id}")
    assert (home["support_model"], home["escalation_policy_id"]) == ("dev", world.policy["id"])


@pytest.mark.parametrize(
    "path",
    ["/api/v1/services/99999999999999999999/readiness", "/api/v1/handover-requests/-1/accept"],
)
async def test_bad_ids_are_4xx(client: httpx.AsyncClient, setup: Setup, path: str) -> None:
    method = "GET" if path.endswith("readiness") else "POST"
    response = await client.request(
        method, path, json={"escalation_policy_id": 1}, headers=setup.world.admin.headers
    )
    assert response.status_code == 422 and response.json()["code"]


async def _make_ops(client: httpx.AsyncClient, setup: Setup, *, on_silence: bool) -> None:
    world = setup.world
    await api(
        client,
        world.admin,
        "PATCH",
        f"/api/v1/services/{setup.service_id}",
        json={"handback_on_silence": on_silence},
    )
    request = await api(
        client,
        world.alice,
        "POST",
        f"/api/v1/services/{setup.service_id}/handover",
        json={"ops_team_id": setup.ops["id"]},
    )
    await api(
        client,
        world.admin,
        "POST",
        f"/api/v1/handover-requests/{request['id']}/accept",
        json={"escalation_policy_id": world.policy["id"], "override_reason": "test"},
    )


async def _storm(setup: Setup, clock: ManualClock, count: int) -> None:
    """``count`` high-urgency night pages over the last nights, each acknowledged quickly."""
    world = setup.world
    for night in range(count):
        clock.set(NOW.replace(hour=23) + timedelta(days=night))
        incident = await world.fire(f"night {night}")
        await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident}/resolve")


async def test_the_nightly_review_proposes_once_across_replicas(
    client: httpx.AsyncClient, setup: Setup, db: Database, clock: ManualClock
) -> None:
    await _make_ops(client, setup, on_silence=False)
    await _storm(setup, clock, 5)
    clock.set(datetime(2026, 5, 9, 3, 0, tzinfo=UTC))
    # Two replicas run the job at the same moment: one evaluation and one proposal.
    counts = await asyncio.gather(nightly.run_nightly(db), nightly.run_nightly(db))
    assert sorted(counts) == [0, 1]
    async with db.new_session() as session:
        evaluations = await session.scalar(
            select(func.count()).select_from(Evaluation).where(Evaluation.nightly_day.is_not(None))
        )
        proposals = list(await session.scalars(select(HandbackProposal)))
    assert evaluations == 1
    assert len(proposals) == 1 and proposals[0].due_at is None
    assert [b["key"] for b in proposals[0].breaches] == ["sleep_pages"]
    # The same night again: nothing more.
    assert await nightly.run_nightly(db) == 0
    latest = await _latest(db)
    labels = {"service": "payments-api", "team": "payments", "support_model": "ops"}
    sample = REGISTRY.get_sample_value(
        "baton_service_readiness_score", {**labels, "band": latest.band}
    )
    assert sample == latest.score
    # Declining needs a reason; a declined proposal stays declined, the service with Ops.
    decline = f"/api/v1/handback-proposals/{proposals[0].id}/decline"
    assert (
        await client.post(decline, json={"reason": " "}, headers=setup.olga.headers)
    ).status_code == 422
    declined = await api(client, setup.olga, "POST", decline, json={"reason": "we fixed the alert"})
    assert declined["state"] == "declined"
    assert (await api(client, setup.world.admin, "GET", f"/api/v1/services/{setup.service_id}"))[
        "support_model"
    ] == "ops"
    # The storm goes on, but Ops answered: no new proposal until a whole window has passed.
    decided = datetime(2026, 5, 9, 3, 0, tzinfo=UTC)
    clock.set(decided + timedelta(days=1))
    await nightly.run_nightly(db)
    for night in range(5):
        clock.set(datetime(2026, 5, 18 + night, 23, 0, tzinfo=UTC))
        incident = await setup.world.fire(f"again {night}")
        await api(client, setup.world.alice, "POST", f"/api/v1/incidents/{incident}/resolve")
    clock.set(decided + timedelta(days=14) - timedelta(minutes=1))
    await nightly.run_nightly(db)
    assert await _proposals(db) == 1
    clock.set(decided + timedelta(days=15))
    await nightly.run_nightly(db)
    assert await _proposals(db) == 2


async def _proposals(db: Database) -> int:
    async with db.new_session() as session:
        return int(await session.scalar(select(func.count()).select_from(HandbackProposal)) or 0)


async def _latest(db: Database) -> Evaluation:
    async with db.new_session() as session:
        row = await session.scalar(select(Evaluation).order_by(Evaluation.id.desc()).limit(1))
    assert row is not None
    return row


@pytest.mark.parametrize("on_silence", [True, False])
async def test_an_unanswered_proposal_takes_effect_only_where_the_service_allows(
    client: httpx.AsyncClient, setup: Setup, db: Database, clock: ManualClock, on_silence: bool
) -> None:
    await _make_ops(client, setup, on_silence=on_silence)
    await _storm(setup, clock, 5)
    clock.set(datetime(2026, 5, 9, 3, 0, tzinfo=UTC))
    await nightly.run_nightly(db)
    async with db.new_session() as session:
        proposal = await session.scalar(select(HandbackProposal))
    assert proposal is not None
    grace = timedelta(days=7)
    assert proposal.due_at == (clock.now() + grace if on_silence else None)
    clock.advance(grace - timedelta(minutes=1))
    await nightly.run_nightly(db)
    service = await api(client, setup.world.admin, "GET", f"/api/v1/services/{setup.service_id}")
    assert service["support_model"] == "ops"
    clock.advance(timedelta(minutes=1))
    await nightly.run_nightly(db)
    service = await api(client, setup.world.admin, "GET", f"/api/v1/services/{setup.service_id}")
    assert service["support_model"] == ("dev" if on_silence else "ops")
    async with db.new_session() as session:
        state = await session.scalar(select(HandbackProposal.state))
    assert state is (RequestState.ACCEPTED_ON_SILENCE if on_silence else RequestState.OPEN)
    view = await api(
        client, setup.world.admin, "GET", f"/api/v1/services/{setup.service_id}/readiness"
    )
    if on_silence:
        assert view["transitions"][0]["decided_by_id"] is None
        assert view["transitions"][0]["decided_by_name"] == "Baton"


async def test_an_ops_team_is_named_by_kind(client: httpx.AsyncClient, setup: Setup) -> None:
    response = await client.post(
        f"/api/v1/services/{setup.service_id}/handover",
        json={"ops_team_id": setup.dev["id"]},
        headers=setup.world.alice.headers,
    )
    assert response.status_code == 422 and "not an Ops team" in response.json()["detail"]
    assert TeamKind.OPS.value == "ops"


async def test_the_support_model_moves_by_hand_over_not_by_edit(
    client: httpx.AsyncClient, setup: Setup
) -> None:
    path = f"/api/v1/services/{setup.service_id}"
    refused = await client.patch(
        path, json={"support_model": "ops"}, headers=setup.world.alice.headers
    )
    assert refused.status_code == 403 and "hand-over" in refused.json()["detail"]
    same = await client.patch(
        path, json={"support_model": "dev"}, headers=setup.world.alice.headers
    )
    assert same.status_code == 200
    forced = await api(client, setup.world.admin, "PATCH", path, json={"support_model": "ops"})
    assert forced["support_model"] == "ops" and forced["support_since"] == "2026-05-04T12:00:00Z"


async def test_an_accept_and_a_decline_together_are_answered_in_turn(
    client: httpx.AsyncClient, setup: Setup
) -> None:
    world = setup.world
    request = await api(
        client,
        world.alice,
        "POST",
        f"/api/v1/services/{setup.service_id}/handover",
        json={"ops_team_id": setup.ops["id"]},
    )
    base = f"/api/v1/handover-requests/{request['id']}"
    accept, decline = await asyncio.gather(
        client.post(
            f"{base}/accept",
            json={"escalation_policy_id": world.policy["id"], "override_reason": "launch"},
            headers=world.admin.headers,
        ),
        client.post(f"{base}/decline", json={"reason": "not yet"}, headers=world.admin.headers),
    )
    assert sorted([accept.status_code, decline.status_code]) == [200, 409]
    service = await api(client, world.admin, "GET", f"/api/v1/services/{setup.service_id}")
    view = await api(client, world.admin, "GET", f"/api/v1/services/{setup.service_id}/readiness")
    # Whichever came first, the service and the request agree.
    if accept.status_code == 200:
        assert service["support_model"] == "ops" and len(view["transitions"]) == 1
    else:
        assert service["support_model"] == "dev" and view["transitions"] == []
