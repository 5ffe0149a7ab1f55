"""People and teams as pages: the directory with on-call status; admins manage roles and teams."""

from __future__ import annotations

import re

import httpx

from app.core.auth import Role, TeamRole
from tests.factories import Factory
from tests.schedules.helpers import create_schedule, crew, weekly_layer
from tests.web.conftest import SignIn


def _row(page: str, row_id: str) -> str:
    """The text of one table row, without tags."""
    row = page.partition(f'id="{row_id}"')[2].partition("</tr>")[0]
    return " ".join(re.sub(r"<[^>]+>", " ", row).split())


async def test_the_directory_shows_teams_and_who_is_on_call_shadow_or_off(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team = await crew(factory)
    alice = await factory.user(name="Alice Nguyen")
    sam = await factory.user(name="Sam Shadow")
    otto = await factory.user(name="Otto Off")
    for person in (alice, sam, otto):
        await factory.member(team.team_id, person.id)
    await create_schedule(
        client,
        team.owner,
        team.team_id,
        name="Payments primary",
        time_zone="UTC",
        layers=[weekly_layer([alice.id, otto.id], shadows=[sam.id])],
    )
    browser, _ = await sign_in(Role.VIEWER)
    page = await browser.get("/people")
    assert page.status_code == 200, page.text
    text = page.text
    assert "On call (Payments primary)" in _row(text, f"person-{alice.id}")
    assert "Shadow (Payments primary)" in _row(text, f"person-{sam.id}")
    assert "Off" in _row(text, f"person-{otto.id}")
    assert (
        f'href="/teams/{team.team_id}"'
        in text.partition(f'id="person-{alice.id}"')[2].partition("</tr>")[0]
    )
    # A viewer reads; no form to change roles.
    assert "Change role" not in text
    assert "Member" in _row(text, f"person-{alice.id}")


async def test_the_team_page_lists_members_with_roles_and_status(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team = await crew(factory)
    alice = await factory.user(name="Alice Nguyen")
    await factory.member(team.team_id, alice.id, TeamRole.MANAGER)
    await create_schedule(
        client,
        team.owner,
        team.team_id,
        name="Payments primary",
        time_zone="UTC",
        layers=[weekly_layer([alice.id])],
    )
    browser, _ = await sign_in(Role.MEMBER)
    page = await browser.get(f"/teams/{team.team_id}")
    assert page.status_code == 200
    row = _row(page.text, f"member-{alice.id}")
    assert "Alice Nguyen" in row and "Manager" in row and "On call" in row
    assert f'id="member-{team.owner.id}"' in page.text
    assert "Add member" not in page.text
    assert "Remove" not in page.text


async def test_an_admin_changes_a_role_and_the_api_shows_it(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    bob = await factory.actor(Role.MEMBER, name="Bob Okafor")
    admin, _ = await sign_in(Role.ADMIN)
    page = await admin.get("/people")
    assert (
        f'<label for="role-{bob.id}" class="visually-hidden">Role of Bob Okafor</label>'
        in page.text
    )
    response = await admin.submit("/people", f"/people/{bob.id}/role", {"role": "viewer"})
    assert response.status_code == 303, response.text
    me = await client.get("/api/v1/users/me", headers=bob.headers)
    assert me.json()["role"] == "viewer"
    # The change applies at once: Bob's token can no longer write.
    refused = await client.patch(f"/api/v1/users/{bob.id}", headers=bob.headers, json={"name": "B"})
    assert refused.status_code == 403


async def test_the_last_admin_cannot_demote_themselves(sign_in: SignIn) -> None:
    admin, me = await sign_in(Role.ADMIN)
    response = await admin.submit("/people", f"/people/{me.id}/role", {"role": "member"})
    assert response.status_code == 409
    assert "at least one admin" in response.text


async def test_an_admin_adds_changes_and_removes_a_member(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team = await crew(factory)
    carol = await factory.user(name="Carol Chen")
    admin, _ = await sign_in(Role.ADMIN)
    path = f"/teams/{team.team_id}"
    page = await admin.get(path)
    assert "Add member" in page.text
    assert f'<option value="{carol.id}">Carol Chen' in page.text

    response = await admin.submit(
        path, f"{path}/members", {"user_id": str(carol.id), "role": "manager"}
    )
    assert response.status_code == 303, response.text
    members = (
        await client.get(f"/api/v1/teams/{team.team_id}/members", headers=team.owner.headers)
    ).json()
    assert {"user_id": carol.id, "team_id": team.team_id, "role": "manager"} in members

    response = await admin.submit(path, f"{path}/members/{carol.id}/role", {"role": "member"})
    assert response.status_code == 303, response.text
    members = (
        await client.get(f"/api/v1/teams/{team.team_id}/members", headers=team.owner.headers)
    ).json()
    assert {"user_id": carol.id, "team_id": team.team_id, "role": "member"} in members

    response = await admin.submit(path, f"{path}/members/{carol.id}/remove")
    assert response.status_code == 303, response.text
    members = (
        await client.get(f"/api/v1/teams/{team.team_id}/members", headers=team.owner.headers)
    ).json()
    assert carol.id not in {m["user_id"] for m in members}

    response = await admin.submit(path, f"{path}/members", {"user_id": str(team.owner.id)})
    assert response.status_code == 409
    assert "already a member" in response.text


async def test_non_admins_are_refused_and_nothing_changes(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team = await crew(factory)
    carol = await factory.user(name="Carol Chen")
    for role in (Role.MEMBER, Role.VIEWER):
        browser, _ = await sign_in(role)
        for page, action, data in (
            ("/people", f"/people/{carol.id}/role", {"role": "admin"}),
            (
                f"/teams/{team.team_id}",
                f"/teams/{team.team_id}/members",
                {"user_id": str(carol.id)},
            ),
            (f"/teams/{team.team_id}", f"/teams/{team.team_id}/members/{team.owner.id}/remove", {}),
        ):
            response = await browser.submit(page, action, data)
            assert response.status_code == 403, (role, action)
            assert "only admins can do this" in response.text or "viewers can look" in response.text
    user = (await client.get(f"/api/v1/users/{carol.id}", headers=team.owner.headers)).json()
    assert user["role"] == "member"
    members = (
        await client.get(f"/api/v1/teams/{team.team_id}/members", headers=team.owner.headers)
    ).json()
    assert {m["user_id"] for m in members} == {team.owner.id}


async def test_writes_without_the_csrf_token_are_refused(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    bob = await factory.actor(Role.MEMBER)
    admin, _ = await sign_in(Role.ADMIN)
    await admin.get("/people")
    response = await admin.http.post(f"/people/{bob.id}/role", data={"role": "admin"})
    assert response.status_code == 403
    assert "did not come from a Baton page" in response.text
    response = await admin.http.post(
        f"/people/{bob.id}/role", data={"role": "admin", "csrf_token": "not-the-token"}
    )
    assert response.status_code == 403
    assert (await client.get("/api/v1/users/me", headers=bob.headers)).json()["role"] == "member"
