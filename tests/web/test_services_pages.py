"""Services and escalation policies as pages: what they show, who may edit, maintenance."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx

from app.core.auth import Role
from app.core.clock import ManualClock
from tests.factories import Factory
from tests.schedules.helpers import Crew, create_schedule, crew, weekly_layer
from tests.web.conftest import SignIn


def _words(page: str) -> str:
    """A page's text without its tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


async def _policy(
    client: httpx.AsyncClient, team: Crew, schedule_id: int, owner_id: int
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/escalation-policies",
        headers=team.owner.headers,
        json={
            "name": "Payments escalation",
            "team_id": team.team_id,
            "repeat": 1,
            "steps": [
                {
                    "delay_minutes": 10,
                    "targets": [{"kind": "schedule", "schedule_id": schedule_id}],
                },
                {"delay_minutes": 15, "targets": [{"kind": "user", "user_id": owner_id}]},
            ],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _service(
    client: httpx.AsyncClient, team: Crew, policy_id: int | None = None, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/services",
        headers=team.owner.headers,
        json={
            "name": extra.pop("name", "payments-api"),
            "team_id": team.team_id,
            "escalation_policy_id": policy_id,
            "support_model": "ops",
            "runbook_url": "https://runbooks.example.com/payments",
            "labels": {"tier": "1"},
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _world(
    client: httpx.AsyncClient, factory: Factory
) -> tuple[Crew, dict[str, Any], dict[str, Any]]:
    team = await crew(factory)
    alice = await factory.user(name="Alice Nguyen")
    await factory.member(team.team_id, alice.id)
    schedule = await create_schedule(
        client,
        team.owner,
        team.team_id,
        name="Payments primary",
        time_zone="UTC",
        layers=[weekly_layer([alice.id])],
    )
    policy = await _policy(client, team, schedule["id"], alice.id)
    service = await _service(client, team, policy["id"])
    return team, policy, service


async def test_the_list_shows_every_service_with_team_policy_support_and_state(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team, policy, service = await _world(client, factory)
    await _service(client, team, None, name="quiet-batch")
    browser, _ = await sign_in(Role.VIEWER)
    page = await browser.get("/services")
    assert page.status_code == 200
    row = page.text.partition(f'href="/services/{service["id"]}"')[2].partition("</tr>")[0]
    assert "payments-api" in row
    assert f'href="/teams/{team.team_id}"' in row
    assert f'href="/escalation-policies/{policy["id"]}">Payments escalation' in row
    assert "Ops" in row
    assert "<td>0</td>" in row
    quiet = page.text.partition(">quiet-batch<")[2].partition("</tr>")[0]
    assert "none: nobody is paged" in quiet


async def test_the_service_page_shows_steps_who_they_reach_runbook_and_labels(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    _, _, service = await _world(client, factory)
    browser, _ = await sign_in(Role.VIEWER)
    page = await browser.get(f"/services/{service['id']}")
    assert page.status_code == 200
    text = page.text
    assert "Payments primary" in text
    assert "now reaches Alice Nguyen" in text
    assert 'href="https://runbooks.example.com/payments"' in text
    assert "tier=1" in text
    assert "Not in maintenance" in text
    assert "runs 1 more time" in text
    # A viewer sees no form to change anything.
    assert "Save service" not in text
    assert "Start maintenance for 1 hour" not in text


async def test_a_team_member_edits_the_service_and_the_api_shows_it(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team, _, service = await _world(client, factory)
    browser, member = await sign_in(Role.MEMBER)
    await factory.member(team.team_id, member.id)
    page = await browser.get(f"/services/{service['id']}")
    assert "Save service" in page.text
    response = await browser.submit(
        f"/services/{service['id']}",
        f"/services/{service['id']}",
        {
            "name": "payments-api",
            "team_id": str(team.team_id),
            "description": "Takes the money",
            "escalation_policy_id": "",
            "support_model": "ops",
            "urgency_rule": "severity",
            "runbook_url": "https://runbooks.example.com/pay2",
            "labels": "tier=2\nregion = eu",
            "ack_timeout_minutes": "30",
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/services/{service['id']}"
    answer = (
        await client.get(f"/api/v1/services/{service['id']}", headers=team.owner.headers)
    ).json()
    assert answer["description"] == "Takes the money"
    assert answer["escalation_policy_id"] is None
    assert answer["support_model"] == "ops"
    assert answer["urgency_rule"] == "severity"
    assert answer["labels"] == {"tier": "2", "region": "eu"}
    assert answer["ack_timeout_minutes"] == 30
    assert answer["runbook_url"] == "https://runbooks.example.com/pay2"


async def test_an_admin_edits_any_service(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team, _, service = await _world(client, factory)
    browser, _ = await sign_in(Role.ADMIN)
    response = await browser.submit(
        f"/services/{service['id']}", f"/services/{service['id']}", {"description": "By the admin"}
    )
    assert response.status_code == 303, response.text
    answer = (
        await client.get(f"/api/v1/services/{service['id']}", headers=team.owner.headers)
    ).json()
    assert answer["description"] == "By the admin"


async def test_a_bad_field_answers_the_apis_message_and_changes_nothing(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    _team, _, service = await _world(client, factory)
    browser, _ = await sign_in(Role.ADMIN)
    response = await browser.submit(
        f"/services/{service['id']}", f"/services/{service['id']}", {"ack_timeout_minutes": "0"}
    )
    assert response.status_code == 422
    assert "ack_timeout_minutes" in response.text
    response = await browser.submit(
        f"/services/{service['id']}", f"/services/{service['id']}", {"labels": "no equals sign"}
    )
    assert response.status_code == 422
    assert "key=value" in response.text


async def test_a_viewer_and_an_outsider_are_refused(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team, _, service = await _world(client, factory)
    for role in (Role.VIEWER, Role.MEMBER):
        browser, _ = await sign_in(role)
        page = await browser.get(f"/services/{service['id']}")
        assert "Save service" not in page.text
        for action, data in (
            (f"/services/{service['id']}", {"description": "hacked"}),
            (f"/services/{service['id']}/maintenance", {}),
        ):
            response = await browser.submit(f"/services/{service['id']}", action, data)
            assert response.status_code == 403, (role, action)
    answer = (
        await client.get(f"/api/v1/services/{service['id']}", headers=team.owner.headers)
    ).json()
    assert answer["description"] == ""
    assert answer["in_maintenance"] is False


async def test_a_write_without_its_csrf_token_is_refused(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    _team, _, service = await _world(client, factory)
    browser, _ = await sign_in(Role.ADMIN)
    response = await browser.http.post(f"/services/{service['id']}", data={"description": "x"})
    assert response.status_code == 403
    assert "did not come from a Baton page" in response.text
    response = await browser.http.post(
        f"/services/{service['id']}", data={"description": "x", "csrf_token": "forged"}
    )
    assert response.status_code == 403


async def test_maintenance_starts_for_an_hour_and_ends(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    team, _, service = await _world(client, factory)
    browser, _ = await sign_in(Role.ADMIN, time_zone="Europe/Berlin")
    path = f"/services/{service['id']}"
    response = await browser.submit(path, f"{path}/maintenance", {"reason": "database upgrade"})
    assert response.status_code == 303, response.text
    api = f"/api/v1/services/{service['id']}"
    assert (await client.get(api, headers=team.owner.headers)).json()["in_maintenance"] is True
    windows = (await client.get(f"{api}/maintenance", headers=team.owner.headers)).json()
    assert len(windows) == 1
    assert windows[0]["reason"] == "database upgrade"
    page = await browser.get(path)
    # 10:00 UTC plus an hour is 12:00 in Berlin.
    assert "In maintenance until Mon 2 Mar 12:00 CET" in _words(page.text)
    assert "End maintenance" in page.text
    # An incident opened now is recorded but held: nobody is paged.
    opened = await client.post(
        "/api/v1/incidents",
        headers=team.owner.headers,
        json={"service_id": service["id"], "title": "Checkout slow"},
    )
    assert opened.status_code == 201, opened.text
    incident = await client.get(
        f"/api/v1/incidents/{opened.json()['id']}", headers=team.owner.headers
    )
    assert incident.json()["held_for_maintenance"] is True
    listing = await browser.get("/services")
    row = listing.text.partition(f'href="/services/{service["id"]}"')[2].partition("</tr>")[0]
    assert "In maintenance" in row
    assert "<td>1</td>" in row  # the held incident is open

    clock.advance(timedelta(minutes=20))
    response = await browser.submit(path, f"{path}/maintenance/{windows[0]['id']}/end")
    assert response.status_code == 303, response.text
    assert (await client.get(api, headers=team.owner.headers)).json()["in_maintenance"] is False
    page = await browser.get(path)
    assert "Not in maintenance" in page.text
    assert "Start maintenance for 1 hour" in page.text


async def test_the_policy_page_shows_its_steps_and_repeat(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    _, policy, service = await _world(client, factory)
    browser, _ = await sign_in(Role.VIEWER)
    page = await browser.get(f"/escalation-policies/{policy['id']}")
    assert page.status_code == 200
    text = page.text
    assert "Payments escalation" in text
    assert text.index("Step 1") < text.index("Payments primary") < text.index("Step 2")
    assert "after 10 minutes" in text
    assert "runs 1 more time" in text
    assert f'href="/services/{service["id"]}"' in text
    assert "Save steps" not in text
    response = await browser.submit(
        f"/escalation-policies/{policy['id']}",
        f"/escalation-policies/{policy['id']}",
        {"repeat": "0"},
    )
    assert response.status_code == 403


async def test_a_team_member_edits_the_steps_and_the_api_shows_it(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team, policy, _ = await _world(client, factory)
    browser, member = await sign_in(Role.MEMBER)
    await factory.member(team.team_id, member.id)
    path = f"/escalation-policies/{policy['id']}"
    assert "Save steps" in (await browser.get(path)).text
    response = await browser.submit(
        path,
        path,
        {
            "repeat": "2",
            "delay_0": "5",
            "delay_1": "15",
            "remove_1": "yes",
            "new_target": f"user:{member.id}",
            "new_delay": "20",
        },
    )
    assert response.status_code == 303, response.text
    answer = (
        await client.get(f"/api/v1/escalation-policies/{policy['id']}", headers=team.owner.headers)
    ).json()
    assert answer["repeat"] == 2
    assert [s["delay_minutes"] for s in answer["steps"]] == [5, 20]
    assert answer["steps"][0]["targets"][0]["kind"] == "schedule"
    assert answer["steps"][1]["targets"] == [
        {"kind": "user", "user_id": member.id, "schedule_id": None, "address": None}
    ]
