"""Escalation steps that target schedules: who is on call at that moment, shadows as shadows,
and a step with nobody on call is logged and skipped at once."""

from __future__ import annotations

import httpx

from app.core.auth import Role
from tests.factories import Factory
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine, GenericSender, api
from tests.schedules.helpers import create_schedule, utc


async def test_schedule_steps_page_the_responder_and_skip_gaps(
    client: httpx.AsyncClient,
    factory: Factory,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    clock,
) -> None:
    admin = await factory.actor(Role.ADMIN, email="admin@example.com")
    team = await api(client, admin, "POST", "/api/v1/teams", json={"name": "web", "kind": "dev"})
    people = {}
    for name in ("dana", "eli", "fay", "gus"):
        actor = await factory.actor(Role.MEMBER, name=name.title(), email=f"{name}@example.com")
        await api(
            client,
            admin,
            "POST",
            f"/api/v1/users/{actor.id}/contact-methods",
            json={"type": "webhook", "address": webhook_receiver.url_for(f"/{name}")},
        )
        people[name] = actor
    # Office hours only: nobody is on call on this schedule at night.
    office = await create_schedule(
        client,
        admin,
        team["id"],
        name="office",
        time_zone="UTC",
        layers=[
            {
                "name": "days",
                "participants": [people["dana"].id],
                "shadows": [people["eli"].id],
                "shift_unit": "weeks",
                "start": "2026-01-05T09:00:00Z",
                "restrictions": [{"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}],
            }
        ],
    )
    nights = await create_schedule(
        client,
        admin,
        team["id"],
        name="nights",
        time_zone="UTC",
        layers=[
            {
                "name": "all",
                "participants": [people["fay"].id],
                "shift_unit": "weeks",
                "start": "2026-01-05T00:00:00Z",
            }
        ],
    )
    policy = await api(
        client,
        admin,
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "web",
            "team_id": team["id"],
            "steps": [
                {
                    "delay_minutes": 5,
                    "targets": [{"kind": "schedule", "schedule_id": office["id"]}],
                },
                {
                    "delay_minutes": 5,
                    "targets": [
                        {"kind": "schedule", "schedule_id": nights["id"]},
                        {"kind": "user", "user_id": people["gus"].id},
                    ],
                },
            ],
        },
    )
    service = await api(
        client,
        admin,
        "POST",
        "/api/v1/services",
        json={"name": "web", "team_id": team["id"], "escalation_policy_id": policy["id"]},
    )

    alerts = GenericSender(client, admin, service["id"])

    # Tuesday 10:00: Dana is on call and Eli shadows her; both are paged, Eli as a shadow.
    clock.set(utc(2026, 3, 3, 10, 0))
    day = await alerts.fire("checkout slow")
    await engine.tick()
    await webhook_receiver.expect_event(path="/dana")
    shadow_page = await webhook_receiver.expect_event(path="/eli")
    assert shadow_page.json["incident"]["shadow"] is True
    assert shadow_page.json["subject"].startswith("[shadow]")
    detail = await api(client, admin, "GET", f"/api/v1/incidents/{day}")
    assert {(a["user_id"], a["shadow"]) for a in detail["assignees"]} == {
        (people["dana"].id, False),
        (people["eli"].id, True),
    }
    await api(client, people["dana"], "POST", f"/api/v1/incidents/{day}/acknowledge")

    # Tuesday 23:00: the office schedule has nobody; the step is logged and Fay and Gus are
    # paged at once, without waiting five minutes.
    clock.set(utc(2026, 3, 3, 23, 0))
    night = await alerts.fire("checkout down")
    await engine.tick()
    await webhook_receiver.expect_event("checkout down", path="/fay")
    await webhook_receiver.expect_event("checkout down", path="/gus")
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    events = await api(client, admin, "GET", f"/api/v1/incidents/{night}/timeline")
    kinds = [e["kind"] for e in events]
    assert kinds[:3] == ["opened", "step_empty", "escalated"]
    assert events[1]["message"] == "Step 1 of 2 has nobody on call; moving on at once"
    assert "Step 2 of 2" in events[2]["message"]
