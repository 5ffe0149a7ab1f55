"""Deleting an escalation policy: refused while a service uses it, done once none does."""

from __future__ import annotations

import httpx

from app.core.auth import Role
from tests.factories import Factory


async def test_a_policy_a_service_uses_is_kept_until_the_service_moves_off_it(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await factory.actor(Role.ADMIN)
    team = await factory.team()
    policy = await client.post(
        "/api/v1/escalation-policies",
        headers=admin.headers,
        json={
            "name": "ops-default",
            "team_id": team.id,
            "steps": [{"delay_minutes": 10, "targets": [{"kind": "user", "user_id": admin.id}]}],
        },
    )
    assert policy.status_code == 201, policy.text
    policy_id = policy.json()["id"]
    service = await client.post(
        "/api/v1/services",
        headers=admin.headers,
        json={"name": "checkout", "team_id": team.id, "escalation_policy_id": policy_id},
    )
    assert service.status_code == 201, service.text

    refused = await client.delete(f"/api/v1/escalation-policies/{policy_id}", headers=admin.headers)
    assert refused.status_code == 409
    assert "services still use this policy" in refused.json()["detail"]
    kept = await client.get(f"/api/v1/escalation-policies/{policy_id}", headers=admin.headers)
    assert kept.status_code == 200, "the refused delete left the policy and its steps alone"
    assert len(kept.json()["steps"]) == 1

    moved = await client.patch(
        f"/api/v1/services/{service.json()['id']}",
        headers=admin.headers,
        json={"escalation_policy_id": None},
    )
    assert moved.status_code == 200, moved.text
    deleted = await client.delete(f"/api/v1/escalation-policies/{policy_id}", headers=admin.headers)
    assert deleted.status_code == 204
