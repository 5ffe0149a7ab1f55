"""The home page: who is on call now on every schedule and service, in the viewer's own time
zone, a banner for the viewer's own on-call, and a team filter."""

from __future__ import annotations

from typing import Any

import httpx

from app.core.auth import Role
from tests.factories import Factory
from tests.schedules.helpers import Crew, create_schedule, crew, weekly_layer
from tests.web.conftest import SignIn


def _row(page: str, heading: str) -> str:
    """The table row whose header cell is ``heading`` (a schedule's or a service's name)."""
    before, found, after = page.partition(f">{heading}</")
    assert found, f"{heading} is not on the page"
    return before.rpartition("<tr")[2] + after.partition("</tr>")[0]


async def _service(
    client: httpx.AsyncClient, team: Crew, name: str, targets: list[dict[str, Any]]
) -> dict[str, Any]:
    policy = await client.post(
        "/api/v1/escalation-policies",
        headers=team.owner.headers,
        json={
            "name": f"{name} policy",
            "team_id": team.team_id,
            "steps": [{"delay_minutes": 5, "targets": targets}],
        },
    )
    assert policy.status_code == 201, policy.text
    created = await client.post(
        "/api/v1/services",
        headers=team.owner.headers,
        json={"name": name, "team_id": team.team_id, "escalation_policy_id": policy.json()["id"]},
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _payments(
    client: httpx.AsyncClient, factory: Factory, alice: int, bob: int, *, shadow: int | None = None
) -> tuple[Crew, dict[str, Any]]:
    """Weekly hand-offs on Mondays 09:00 UTC from 5 January: Alice's week began on Monday
    2 March, and the clock stands at 10:00 UTC that day."""
    team = await crew(factory)
    for person in (alice, bob):
        await factory.member(team.team_id, person)
    schedule = await create_schedule(
        client,
        team.owner,
        team.team_id,
        name="Payments primary",
        time_zone="UTC",
        layers=[weekly_layer([alice, bob], shadows=[shadow] if shadow else [])],
    )
    return team, schedule


async def test_the_home_page_shows_who_is_on_call_until_when(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    alice = await factory.user(name="Alice Nguyen")
    bob = await factory.user(name="Bob Okafor")
    carol = await factory.user(name="Carol Shadow")
    await _payments(client, factory, alice.id, bob.id, shadow=carol.id)
    browser, _ = await sign_in(Role.VIEWER, name="Vera Viewer", time_zone="Europe/Berlin")
    page = await browser.get("/")
    assert page.status_code == 200
    assert "Vera Viewer" in page.text
    row = _row(page.text, "Payments primary")
    # Monday 9 March 09:00 UTC is 10:00 in Berlin, in winter time.
    assert "Mon 9 Mar 10:00 CET" in row
    assert "in 7 days" in row
    assert row.index("Alice Nguyen") < row.index("Mon 9 Mar") < row.index("Bob Okafor")
    assert "shadow: Carol Shadow" in row
    # Nobody asked Vera: she has no shift.
    assert "You have no on-call shift in the next 90 days." in page.text


async def test_a_service_shows_whom_its_first_step_reaches(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    alice = await factory.user(name="Alice Nguyen")
    bob = await factory.user(name="Bob Okafor")
    dave = await factory.user(name="Dave Direct")
    team, schedule = await _payments(client, factory, alice.id, bob.id)
    await _service(
        client,
        team,
        "Checkout API",
        [{"kind": "schedule", "schedule_id": schedule["id"]}, {"kind": "user", "user_id": dave.id}],
    )
    browser, _ = await sign_in(Role.MEMBER, time_zone="America/New_York")
    page = (await browser.get("/")).text
    row = _row(page, "Checkout API")
    assert "Checkout API policy" in row
    assert "Payments primary" in row
    assert "Alice Nguyen" in row
    assert "Dave Direct (directly)" in row
    # 09:00 UTC on Monday 9 March is 05:00 in New York (EDT since 8 March).
    assert "Mon 9 Mar 05:00 EDT" in row
    assert row.index("Alice Nguyen") < row.index("Mon 9 Mar") < row.index("Bob Okafor")


async def test_a_service_without_a_policy_says_nobody_is_paged(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team = await crew(factory)
    created = await client.post(
        "/api/v1/services",
        headers=team.owner.headers,
        json={"name": "Orphan service", "team_id": team.team_id},
    )
    assert created.status_code == 201, created.text
    browser, _ = await sign_in(Role.MEMBER)
    row = _row((await browser.get("/")).text, "Orphan service")
    assert "nobody is paged" in row


async def test_the_banner_says_until_when_i_am_on_call(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER, name="Alice Nguyen", time_zone="Europe/Berlin")
    bob = await factory.user(name="Bob Okafor")
    await _payments(client, factory, me.id, bob.id)
    page = (await browser.get("/")).text
    assert "You are on call until" in page
    banner = page.partition('class="oncall-banner"')[2].partition("</article>")[0]
    assert "You are on call until" in banner
    assert "Mon 9 Mar 10:00 CET" in banner
    assert "Payments primary" in banner


async def test_the_banner_says_when_my_next_shift_starts(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER, name="Bob Okafor", time_zone="Asia/Tokyo")
    alice = await factory.user(name="Alice Nguyen")
    await _payments(client, factory, alice.id, me.id)
    page = (await browser.get("/")).text
    banner = page.partition('class="oncall-banner"')[2].partition("</article>")[0]
    # Bob's week starts Monday 9 March 09:00 UTC: 18:00 in Tokyo.
    assert "Your next shift starts" in banner
    assert "Mon 9 Mar 18:00 JST" in banner
    assert "You are on call" not in banner


async def test_the_team_filter_shows_one_teams_schedules_and_services(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    alice = await factory.user(name="Alice Nguyen")
    bob = await factory.user(name="Bob Okafor")
    payments, schedule = await _payments(client, factory, alice.id, bob.id)
    await _service(
        client, payments, "Checkout API", [{"kind": "schedule", "schedule_id": schedule["id"]}]
    )
    search = await crew(factory)
    await create_schedule(
        client,
        search.owner,
        search.team_id,
        name="Search primary",
        layers=[weekly_layer([search.owner.id])],
    )
    browser, _ = await sign_in(Role.VIEWER)
    everything = (await browser.get("/")).text
    assert "Payments primary" in everything and "Search primary" in everything
    filtered = (await browser.get("/", params={"team": str(search.team_id)})).text
    assert "Search primary" in filtered
    assert "Payments primary" not in filtered
    assert "Checkout API" not in filtered
    assert f'<option value="{search.team_id}" selected>' in filtered
    # "All teams" sends an empty value.
    assert "Payments primary" in (await browser.get("/", params={"team": ""})).text
    assert (await browser.get("/", params={"team": "x"})).status_code == 422


async def test_with_no_schedules_the_home_page_says_so(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    text = (await browser.get("/")).text
    assert "No schedules yet." in text
    assert "No services yet." in text
