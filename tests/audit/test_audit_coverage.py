"""Every kind of configuration change made through the API leaves an audit record naming the
caller (user and token), with the fields before and after; a refused request leaves none."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.audit.entities import EntityType
from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.notify.console import ConsoleProvider
from app.people.models import ApiToken
from app.readiness.checklist import DEFAULT_ITEMS
from tests.audit.helpers import audit_rows
from tests.factories import Actor, Factory


@dataclass
class World:
    client: httpx.AsyncClient
    admin: Actor
    factory: Factory
    clock: ManualClock
    console: ConsoleProvider

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(
            method, f"/api/v1{path}", headers=self.admin.headers, json=body
        )
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    async def team_id(self) -> int:
        return (await self.factory.team()).id

    async def schedule(self, *, with_layer: bool = False) -> dict[str, Any]:
        return await self.call(
            "POST",
            "/schedules",
            {
                "name": f"sched-{await self.team_id()}",
                "team_id": await self.team_id(),
                "time_zone": "UTC",
                "layers": [self.layer("primary")] if with_layer else [],
            },
        )

    def layer(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "participants": [self.admin.id],
            "shift_length": 1,
            "shift_unit": "weeks",
            "start": "2026-01-05T09:00:00Z",
        }

    async def service(self) -> dict[str, Any]:
        return await self.call(
            "POST",
            "/services",
            {"name": f"svc-{await self.team_id()}", "team_id": await self.team_id()},
        )

    async def contact_method(self, kind: str, address: str) -> dict[str, Any]:
        return await self.call(
            "POST", f"/users/{self.admin.id}/contact-methods", {"type": kind, "address": address}
        )


async def _user(w: World) -> None:
    user = await w.call(
        "POST", "/users", {"name": "Bob", "email": "bob@example.com", "time_zone": "UTC"}
    )
    await w.call("PATCH", f"/users/{user['id']}", {"role": "viewer"})
    await w.call("DELETE", f"/users/{user['id']}")


async def _team(w: World) -> None:
    team = await w.call("POST", "/teams", {"name": "payments", "kind": "dev"})
    await w.call("PATCH", f"/teams/{team['id']}", {"description": "money"})
    await w.call("DELETE", f"/teams/{team['id']}")


async def _membership(w: World) -> None:
    team_id = await w.team_id()
    user = await w.factory.user()
    await w.call("POST", f"/teams/{team_id}/members", {"user_id": user.id})
    await w.call("PATCH", f"/teams/{team_id}/members/{user.id}", {"role": "manager"})
    await w.call("DELETE", f"/teams/{team_id}/members/{user.id}")


async def _contact_method(w: World) -> None:
    method = await w.contact_method("email", "admin@example.com")
    base = f"/users/{w.admin.id}/contact-methods/{method['id']}"
    await w.call("PATCH", base, {"label": "work"})
    await w.call("DELETE", base)


async def _verification(w: World) -> None:
    method = await w.contact_method("sms", "+15555550123")
    base = f"/users/{w.admin.id}/contact-methods/{method['id']}"
    await w.call("POST", f"{base}/send-verification")
    code = re.search(r"code is (\d{6})", w.console.sent[-1].message.text)
    assert code is not None
    await w.call("POST", f"{base}/verify", {"code": code.group(1)})


async def _status_updates(w: World) -> None:
    method = await w.contact_method("webhook", "https://hooks.example.com/baton")
    base = f"/users/{w.admin.id}/contact-methods/{method['id']}/status-updates"
    await w.call("PUT", base, {"enabled": True})
    await w.call("PUT", base, {"enabled": False})


async def _notification_rule(w: World) -> None:
    method = await w.contact_method("email", "admin@example.com")
    rule = await w.call(
        "POST",
        f"/users/{w.admin.id}/notification-rules",
        {"contact_method_id": method["id"], "delay_minutes": 5},
    )
    await w.call("DELETE", f"/users/{w.admin.id}/notification-rules/{rule['id']}")


async def _token(w: World) -> None:
    token = await w.call("POST", "/tokens", {"name": "laptop"})
    await w.call("DELETE", f"/tokens/{token['id']}")


async def _calendar_feed(w: World) -> None:
    feed = await w.call("POST", "/calendar-feeds", {"user_id": w.admin.id})
    await w.call("DELETE", f"/calendar-feeds/{feed['id']}")


async def _oncall_preferences(w: World) -> None:
    base = f"/users/{w.admin.id}/oncall-preferences"
    await w.call("PATCH", base, {"reminder_lead_minutes": 30})
    await w.call("PATCH", base, {"reminders_enabled": False})


async def _schedule(w: World) -> None:
    schedule = await w.schedule()
    await w.call("PATCH", f"/schedules/{schedule['id']}", {"description": "nights"})
    await w.call("DELETE", f"/schedules/{schedule['id']}")


async def _layer(w: World) -> None:
    schedule = await w.schedule()
    other = await w.factory.user()
    layer = await w.call("POST", f"/schedules/{schedule['id']}/layers", w.layer("secondary"))
    base = f"/schedules/{schedule['id']}/layers/{layer['id']}"
    await w.call("PATCH", base, {"participants": [w.admin.id, other.id]})
    await w.call("DELETE", base)


async def _override(w: World) -> None:
    schedule = await w.schedule()
    start = w.clock.now() + timedelta(days=1)
    override = await w.call(
        "POST",
        f"/schedules/{schedule['id']}/overrides",
        {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=4)).isoformat(),
            "user_id": w.admin.id,
        },
    )
    base = f"/schedules/{schedule['id']}/overrides/{override['id']}"
    await w.call("PATCH", base, {"reason": "dentist"})
    await w.call("DELETE", base)


async def _escalation_policy(w: World) -> None:
    policy = await w.call(
        "POST",
        "/escalation-policies",
        {
            "name": "ops-default",
            "team_id": await w.team_id(),
            "steps": [{"delay_minutes": 10, "targets": [{"kind": "user", "user_id": w.admin.id}]}],
        },
    )
    await w.call("PATCH", f"/escalation-policies/{policy['id']}", {"repeat": 2})
    await w.call("DELETE", f"/escalation-policies/{policy['id']}")


async def _service(w: World) -> None:
    service = await w.service()
    await w.call("PATCH", f"/services/{service['id']}", {"runbook_url": "https://wiki/run"})
    await w.call("DELETE", f"/services/{service['id']}")


async def _integration(w: World) -> None:
    service = await w.service()
    integration = await w.call(
        "POST", f"/services/{service['id']}/integrations", {"kind": "generic", "name": "ci"}
    )
    await w.call("DELETE", f"/services/{service['id']}/integrations/{integration['id']}")


async def _maintenance_window(w: World) -> None:
    service = await w.service()
    window = await w.call(
        "POST",
        f"/services/{service['id']}/maintenance",
        {"ends_at": (w.clock.now() + timedelta(hours=2)).isoformat()},
    )
    w.clock.advance(minutes=30)
    await w.call("DELETE", f"/services/{service['id']}/maintenance/{window['id']}")


async def _slack_announcements(w: World) -> None:
    schedule = await w.schedule()
    base = f"/schedules/{schedule['id']}/slack-announcements"
    await w.call("PUT", base, {"channel_id": "C0123456"})
    await w.call("PUT", base, {"channel_id": "C0123456", "daily_at": "09:00"})
    await w.call("DELETE", base)


async def _slack_link(w: World) -> None:
    user = await w.factory.user()
    await w.call("PUT", f"/users/{user.id}/slack-link", {"slack_user_id": "U0BOB0001"})
    await w.call("DELETE", f"/users/{user.id}/slack-link")


def _checklist_items() -> list[dict[str, Any]]:
    return [
        {"key": i.key, "title": i.title, "kind": i.kind.value, "weight": i.weight}
        for i in DEFAULT_ITEMS
    ]


async def _readiness_settings(w: World) -> None:
    await w.call("PUT", "/readiness/checklist", {"items": _checklist_items()})
    await w.call("PATCH", "/readiness/thresholds", {"max_sleep_pages": 6})


async def _team_readiness_items(w: World) -> None:
    team_id = await w.team_id()
    capacity = {"key": "capacity", "title": "Capacity reviewed", "kind": "sign_off", "weight": 5}
    await w.call("PUT", f"/teams/{team_id}/readiness/checklist", {"items": [capacity]})
    await w.call("PUT", f"/teams/{team_id}/readiness/checklist", {"items": []})


async def _readiness_sign_off(w: World) -> None:
    service = await w.service()
    member = await w.factory.user()
    await w.call("POST", f"/teams/{service['team_id']}/members", {"user_id": member.id})
    path = f"/services/{service['id']}/readiness/sign-offs/monitoring"
    await w.call("PUT", path, {"signed_by_id": member.id, "comment": "dashboards reviewed"})
    await w.call("DELETE", path)


Case = Callable[[World], Awaitable[None]]

CASES: list[tuple[EntityType, Case, list[str]]] = [
    (EntityType.USER, _user, ["created", "updated", "deleted"]),
    (EntityType.TEAM, _team, ["created", "updated", "deleted"]),
    (EntityType.MEMBERSHIP, _membership, ["created", "updated", "deleted"]),
    (EntityType.CONTACT_METHOD, _contact_method, ["created", "updated", "deleted"]),
    (EntityType.CONTACT_METHOD, _verification, ["created", "verified"]),
    (EntityType.STATUS_UPDATES, _status_updates, ["created", "deleted"]),
    (EntityType.NOTIFICATION_RULE, _notification_rule, ["created", "deleted"]),
    (EntityType.TOKEN, _token, ["created", "revoked"]),
    (EntityType.CALENDAR_FEED, _calendar_feed, ["created", "revoked"]),
    (EntityType.ONCALL_PREFERENCES, _oncall_preferences, ["created", "updated"]),
    (EntityType.SCHEDULE, _schedule, ["created", "updated", "deleted"]),
    (EntityType.LAYER, _layer, ["created", "updated", "deleted"]),
    (EntityType.OVERRIDE, _override, ["created", "updated", "deleted"]),
    (EntityType.ESCALATION_POLICY, _escalation_policy, ["created", "updated", "deleted"]),
    (EntityType.SERVICE, _service, ["created", "updated", "deleted"]),
    (EntityType.INTEGRATION, _integration, ["created", "revoked"]),
    (EntityType.MAINTENANCE_WINDOW, _maintenance_window, ["created", "updated"]),
    (EntityType.SLACK_ANNOUNCEMENTS, _slack_announcements, ["created", "updated", "deleted"]),
    (EntityType.SLACK_LINK, _slack_link, ["created", "deleted"]),
    (EntityType.READINESS_SETTINGS, _readiness_settings, ["created", "updated"]),
    (EntityType.TEAM_READINESS_ITEMS, _team_readiness_items, ["created", "deleted"]),
    (EntityType.READINESS_SIGN_OFF, _readiness_sign_off, ["created", "deleted"]),
]


@pytest.fixture
async def world(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock, console: ConsoleProvider
) -> World:
    return World(client, await factory.actor(Role.ADMIN), factory, clock, console)


@pytest.mark.parametrize(
    ("entity", "case", "actions"), CASES, ids=[f"{e}-{c.__name__[1:]}" for e, c, _ in CASES]
)
async def test_every_configuration_change_is_recorded_with_its_caller(
    world: World, db: Database, entity: EntityType, case: Case, actions: list[str]
) -> None:
    await case(world)
    rows = await audit_rows(db, entity.value)
    assert [r.action for r in rows] == actions
    async with db.transaction() as session:
        token_id = await session.scalar(
            select(ApiToken.id).where(ApiToken.user_id == world.admin.id)
        )
    for row in rows:
        assert (row.actor_kind, row.actor_user_id, row.actor_token_id) == (
            "user",
            world.admin.id,
            token_id,
        )
        assert row.channel == "api" and row.request_id
        assert row.entity_id is not None
    assert rows[0].before is None and rows[0].after
    if actions[-1] == "deleted" and entity is not EntityType.LAYER:
        assert rows[-1].after is None and rows[-1].before


async def test_an_update_records_the_changed_fields_before_and_after(
    world: World, db: Database
) -> None:
    service = await world.service()
    await world.call(
        "PATCH",
        f"/services/{service['id']}",
        {"description": "checkout", "labels": {"tier": "1"}, "name": service["name"]},
    )
    created, updated = await audit_rows(db, "service")
    assert created.at == updated.at == world.clock.now()
    assert created.action == "created" and created.after is not None
    assert created.after["name"] == service["name"] and created.after["description"] == ""
    assert updated.action == "updated" and updated.entity_id == service["id"]
    # Only what changed: the name was sent again but is the same.
    assert updated.before == {"description": "", "labels": {}}
    assert updated.after == {"description": "checkout", "labels": {"tier": "1"}}


async def test_a_layer_change_shows_the_rotation_before_and_after(
    world: World, db: Database
) -> None:
    schedule = await world.schedule(with_layer=True)
    layer_id = schedule["layers"][0]["id"]
    other = await world.factory.user()
    world.clock.advance(days=1)
    await world.call(
        "PATCH",
        f"/schedules/{schedule['id']}/layers/{layer_id}",
        {"participants": [world.admin.id, other.id], "name": "main"},
    )
    created, updated = await audit_rows(db, "layer")
    assert created.after is not None
    assert created.after["name"] == "primary"
    assert [m["user_id"] for m in created.after["rotation"]["members"]] == [world.admin.id]
    assert updated.entity_id == layer_id
    assert updated.before is not None and updated.after is not None
    assert (updated.before["name"], updated.after["name"]) == ("primary", "main")
    before_people = [m["user_id"] for m in updated.before["rotation"]["members"]]
    after_people = [m["user_id"] for m in updated.after["rotation"]["members"]]
    assert (before_people, after_people) == ([world.admin.id], [world.admin.id, other.id])


async def test_a_policy_change_shows_the_ladder_before_and_after(
    world: World, db: Database
) -> None:
    policy = await world.call(
        "POST",
        "/escalation-policies",
        {
            "name": "ladder",
            "team_id": await world.team_id(),
            "steps": [
                {"delay_minutes": 10, "targets": [{"kind": "user", "user_id": world.admin.id}]}
            ],
        },
    )
    await world.call(
        "PATCH",
        f"/escalation-policies/{policy['id']}",
        {
            "steps": [
                {"delay_minutes": 5, "targets": [{"kind": "user", "user_id": world.admin.id}]},
                {"delay_minutes": 15, "targets": [{"kind": "slack_channel", "address": "C0OPS"}]},
            ]
        },
    )
    _, updated = await audit_rows(db, "escalation_policy")
    assert updated.before is not None and updated.after is not None
    assert set(updated.before) == {"steps"}
    assert [s["delay_minutes"] for s in updated.before["steps"]] == [10]
    assert [s["delay_minutes"] for s in updated.after["steps"]] == [5, 15]
    assert updated.after["steps"][1]["targets"][0]["address"] == "C0OPS"


async def test_a_refused_request_writes_no_audit_record(
    world: World, db: Database, client: httpx.AsyncClient, factory: Factory
) -> None:
    service = await world.service()
    before = len(await audit_rows(db))
    # 409: the second service would take a name already in use, after the first was renamed.
    other = await world.service()
    mark = len(await audit_rows(db))
    refused = await client.patch(
        f"/api/v1/services/{other['id']}",
        headers=world.admin.headers,
        json={"description": "changed first", "name": service["name"]},
    )
    assert refused.status_code == 409
    assert len(await audit_rows(db)) == mark
    # 403 and 422 as well.
    viewer = await factory.actor(Role.VIEWER)
    forbidden = await client.post(
        "/api/v1/teams", headers=viewer.headers, json={"name": "x", "kind": "dev"}
    )
    assert forbidden.status_code == 403
    invalid = await client.post(
        "/api/v1/users", headers=world.admin.headers, json={"name": "", "email": "x"}
    )
    assert invalid.status_code == 422
    assert len(await audit_rows(db)) == mark > before


async def test_reading_writes_no_audit_record(world: World, db: Database) -> None:
    await world.call("GET", "/users")
    world.clock.advance(hours=1)  # the token's last use is written, and is not configuration
    await world.call("GET", "/users/me")
    assert await audit_rows(db) == []
