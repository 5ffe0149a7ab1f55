"""The schedule pages: the list, one schedule's timeline data and table, overrides made with the
page's form (in the viewer's zone), cover requests asked and accepted, the calendar link."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from app.core.auth import Role
from app.web.routes.schedules import local_input_to_utc, offset_changes
from tests.factories import Actor, Factory
from tests.schedules.helpers import create_schedule, crew, weekly_layer
from tests.web.browser import Browser
from tests.web.conftest import SignIn

_DATA = re.compile(r'<script type="application/json" id="schedule-data">(.*?)</script>', re.S)


def timeline_data(page: str) -> dict[str, Any]:
    match = _DATA.search(page)
    assert match is not None, "the page has no timeline data"
    return json.loads(match[1])


def table(page: str, table_id: str) -> str:
    found = page.partition(f'<table id="{table_id}">')[2].partition("</table>")[0]
    assert found, f"no table {table_id}"
    return found


async def final_shifts(
    client: httpx.AsyncClient, actor: Actor, schedule_id: int, start: str, end: str
) -> list[tuple[str, str, int]]:
    response = await client.get(
        f"/api/v1/schedules/{schedule_id}/final-schedule",
        headers=actor.headers,
        params={"start": start, "end": end},
    )
    assert response.status_code == 200, response.text
    return [
        (s["start"], s["end"], s["user_id"]) for s in response.json()["shifts"] if not s["shadow"]
    ]


class World:
    """A Berlin team's weekly schedule: Alice this week (from Monday 2 March 09:00 UTC), Bob
    the next; Alice and Bob are signed in as members of the team."""

    def __init__(self, schedule: dict[str, Any], team_id: int, owner: Actor) -> None:
        self.schedule = schedule
        self.id: int = schedule["id"]
        self.team_id = team_id
        self.owner = owner
        self.page = f"/schedules/{self.id}"


async def berlin_world(
    client: httpx.AsyncClient, factory: Factory, alice: Actor, bob: Actor, **layer: Any
) -> World:
    team = await crew(factory)
    for person in (alice, bob):
        await factory.member(team.team_id, person.id)
    schedule = await create_schedule(
        client,
        team.owner,
        team.team_id,
        name="Payments primary",
        time_zone="Europe/Berlin",
        layers=[weekly_layer([alice.id, bob.id], **layer)],
    )
    return World(schedule, team.team_id, team.owner)


async def two_people(sign_in: SignIn) -> tuple[tuple[Browser, Actor], tuple[Browser, Actor]]:
    alice = await sign_in(Role.MEMBER, name="Alice Nguyen", time_zone="Europe/Berlin")
    bob = await sign_in(Role.MEMBER, name="Bob Okafor", time_zone="Europe/Berlin")
    return alice, bob


# ------------------------------------------------------------------------------------ list


async def test_the_list_shows_each_schedule_with_who_is_on_call(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (_, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    browser, _ = await sign_in(Role.VIEWER, time_zone="Europe/Berlin")
    page = await browser.get("/schedules")
    assert page.status_code == 200
    rows = table(page.text, "schedule-list")
    assert f'<a href="/schedules/{world.id}">Payments primary</a>' in rows
    assert "Europe/Berlin" in rows
    assert "Alice Nguyen" in rows
    assert "Mon 9 Mar 10:00 CET" in rows
    other_team = await factory.team()
    filtered = await browser.get("/schedules", params={"team": str(other_team.id)})
    assert "This team has no schedules." in filtered.text


# ------------------------------------------------------------------------------- one page


async def test_the_schedule_page_carries_layers_overrides_final_and_gaps(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (_, alice), (_, bob) = await two_people(sign_in)
    carol = await factory.user(name="Carol Shadow")
    # Weekdays only: the weekend is a gap.
    world = await berlin_world(
        client,
        factory,
        alice,
        bob,
        shadows=[carol.id],
        restrictions=[{"weekdays": [1, 2, 3, 4, 5], "start": "00:00", "end": "00:00"}],
    )
    override = await client.post(
        f"/api/v1/schedules/{world.id}/overrides",
        headers=world.owner.headers,
        json={
            "start": "2026-03-04T08:00:00Z",
            "end": "2026-03-05T08:00:00Z",
            "user_id": bob.id,
            "replaces_user_id": alice.id,
            "reason": "dentist",
        },
    )
    assert override.status_code == 201, override.text
    browser, _ = await sign_in(Role.VIEWER, time_zone="Europe/Berlin")
    page = await browser.get(world.page)
    assert page.status_code == 200
    assert 'id="schedule-timeline"' in page.text
    assert "vis-timeline-graph2d.min.js" in page.text and "schedules.js" in page.text
    data = timeline_data(page.text)
    # Two weeks from today's midnight in the viewer's zone.
    assert data["window"]["start"] == "2026-03-01T23:00:00+00:00"
    assert data["window"]["end"] == "2026-03-15T23:00:00+00:00"
    assert data["window"]["wall_start"] == "2026-03-02T00:00:00"
    (layer,) = data["layers"]
    assert layer["name"] == "primary"
    assert {s["name"] for s in layer["shifts"] if not s["shadow"]} == {"Alice Nguyen", "Bob Okafor"}
    assert any(s["shadow"] and s["name"] == "Carol Shadow" for s in layer["shifts"])
    (listed,) = data["overrides"]
    assert (listed["name"], listed["replaces_name"], listed["reason"]) == (
        "Bob Okafor",
        "Alice Nguyen",
        "dentist",
    )
    covering = [s for s in data["final"] if s["source_kind"] == "override"]
    assert [(s["name"], s["start"], s["end"]) for s in covering] == [
        ("Bob Okafor", "2026-03-04T08:00:00+00:00", "2026-03-05T08:00:00+00:00")
    ]
    assert covering[0]["covering"] == ["Alice Nguyen"]
    # The weekend of 7-8 March (Berlin) is a gap, as the API says.
    gaps = await client.get(
        f"/api/v1/schedules/{world.id}/gaps",
        headers=world.owner.headers,
        params={"start": data["window"]["start"], "end": data["window"]["end"]},
    )
    assert [(g["start"], g["end"]) for g in data["gaps"]] == [
        (g["start"].replace("Z", "+00:00"), g["end"].replace("Z", "+00:00"))
        for g in gaps.json()["gaps"]
    ]
    assert data["gaps"][0]["start"] == "2026-03-06T23:00:00+00:00"
    assert data["gaps"][0]["wall_start"] == "2026-03-07T00:00:00"
    # The accessible table lists the same: shifts, the shadow, the override and the gap.
    rows = table(page.text, "final-schedule")
    assert "Gap: nobody on call" in rows
    assert "Sat 7 Mar 00:00 CET" in rows
    assert "covering Alice Nguyen" in rows
    assert "Carol Shadow" in rows and "shadow" in rows
    # No clock change in these two weeks.
    assert data["dst_changes"] == []


async def test_zoom_to_a_day_or_a_month(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (_, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    browser, _ = await sign_in(Role.VIEWER, time_zone="Europe/Berlin")
    day = timeline_data((await browser.get(world.page, params={"view": "day"})).text)
    assert (day["window"]["wall_start"], day["window"]["wall_end"]) == (
        "2026-03-02T00:00:00",
        "2026-03-03T00:00:00",
    )
    month = await browser.get(world.page, params={"view": "month", "start": "2026-01-31"})
    window = timeline_data(month.text)["window"]
    assert (window["wall_start"], window["wall_end"]) == (
        "2026-01-31T00:00:00",
        "2026-02-28T00:00:00",
    )
    assert 'href="?view=month&amp;start=2026-02-28"' in month.text  # "Later"
    assert (await browser.get(world.page, params={"view": "year"})).status_code == 422


async def test_a_window_across_the_spring_change_marks_it(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (_, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    browser, _ = await sign_in(Role.VIEWER, time_zone="Europe/Berlin")
    page = await browser.get(world.page, params={"start": "2026-03-23"})
    data = timeline_data(page.text)
    (change,) = data["dst_changes"]
    assert change["zone"] == "Europe/Berlin"
    assert change["at"] == "2026-03-29T01:00:00+00:00"
    assert (change["wall_before"], change["wall_after"]) == (
        "2026-03-29T01:59:59",
        "2026-03-29T03:00:00",
    )
    assert (change["offset_before_minutes"], change["offset_after_minutes"]) == (60, 120)
    assert "clocks go forward 1 hour (CET → CEST)" in change["label"]
    assert "clocks go forward 1 hour" in html.unescape(
        page.text.partition("schedule-clock-changes")[2]
    )
    # The window is two weeks of wall-clock days: 13 days and 23 hours of time.
    assert data["window"]["end"] == "2026-04-05T22:00:00+00:00"


async def test_a_viewer_elsewhere_sees_the_schedules_change_too(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (_, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    browser, _ = await sign_in(Role.VIEWER, time_zone="Asia/Tokyo")
    data = timeline_data((await browser.get(world.page, params={"start": "2026-03-23"})).text)
    # Tokyo keeps its clock; the schedule's zone (Berlin) changes, so the change is marked.
    assert [c["zone"] for c in data["dst_changes"]] == ["Europe/Berlin"]
    assert data["dst_changes"][0]["wall_after"] == "2026-03-29T10:00:00"


def test_offset_changes_are_found_to_the_second() -> None:
    autumn = offset_changes(
        "America/New_York", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert [(c.at, c.name_before, c.name_after) for c in autumn] == [
        (datetime(2026, 11, 1, 6, 0, tzinfo=UTC), "EDT", "EST")
    ]
    assert "clocks go back 1 hour" in autumn[0].label
    assert (
        offset_changes("UTC", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
        == []
    )


def test_typed_times_the_zone_skips_or_repeats_are_refused() -> None:
    assert local_input_to_utc("2026-03-03T09:00", "Europe/Berlin", "Starts", "f") == datetime(
        2026, 3, 3, 8, 0, tzinfo=UTC
    )
    for typed, words in (("2026-03-29T02:30", "does not exist"), ("2026-10-25T02:30", "twice")):
        try:
            local_input_to_utc(typed, "Europe/Berlin", "Starts", "body.start")
        except Exception as exc:
            assert words in str(exc) and "Europe/Berlin" in str(exc)
        else:
            raise AssertionError(f"{typed} was accepted")


async def test_an_unknown_schedule_is_the_apis_404(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.VIEWER)
    missing = await browser.get("/schedules/999999")
    assert missing.status_code == 404
    assert "schedule 999999 not found" in missing.text


# ------------------------------------------------------------------------------- overrides


async def test_an_override_made_with_the_form_changes_the_final_schedule(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (alice_browser, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    page = (await alice_browser.get(world.page)).text
    for label in ("Person", "Starts", "Ends"):
        assert f">{label}</label>" in page
    assert '<button type="submit">Create override</button>' in page
    made = await alice_browser.submit(
        world.page,
        f"/schedules/{world.id}/overrides",
        # Berlin wall-clock times: 09:00 CET is 08:00 UTC.
        {"user_id": str(bob.id), "start": "2026-03-03T09:00", "end": "2026-03-04T09:00"},
    )
    assert made.status_code == 303
    assert made.headers["location"] == world.page
    shifts = await final_shifts(
        client, world.owner, world.id, "2026-03-03T00:00:00Z", "2026-03-05T00:00:00Z"
    )
    assert ("2026-03-03T08:00:00Z", "2026-03-04T08:00:00Z", bob.id) in shifts
    overrides = await client.get(
        f"/api/v1/schedules/{world.id}/overrides", headers=world.owner.headers
    )
    (created,) = overrides.json()["items"]
    assert (created["user_id"], created["replaces_user_id"]) == (bob.id, None)
    # The page shows it: timeline data and table.
    after = (await alice_browser.get(world.page)).text
    data = timeline_data(after)
    assert [o["name"] for o in data["overrides"]] == ["Bob Okafor"]
    assert any(
        s["source_kind"] == "override" and s["start"] == "2026-03-03T08:00:00+00:00"
        for s in data["final"]
    )
    assert "Tue 3 Mar 09:00 CET" in table(after, "schedule-overrides")


async def test_an_override_form_through_htmx_redirects_the_whole_page(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (alice_browser, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    token = await alice_browser.csrf_token(world.page)
    made = await alice_browser.http.post(
        f"/schedules/{world.id}/overrides",
        headers={"HX-Request": "true", "X-CSRF-Token": token},
        data={"user_id": str(bob.id), "start": "2026-03-03T09:00", "end": "2026-03-04T09:00"},
    )
    assert made.status_code == 204
    assert made.headers["hx-redirect"] == world.page


async def test_a_time_in_the_spring_gap_is_refused_with_a_clear_message(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (alice_browser, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    refused = await alice_browser.submit(
        world.page,
        f"/schedules/{world.id}/overrides",
        {"user_id": str(bob.id), "start": "2026-03-29T02:30", "end": "2026-03-29T12:00"},
    )
    assert refused.status_code == 422
    assert "does not exist in Europe/Berlin" in refused.text
    ambiguous = await alice_browser.submit(
        world.page,
        f"/schedules/{world.id}/overrides",
        {"user_id": str(bob.id), "start": "2026-10-25T01:00", "end": "2026-10-25T02:30"},
    )
    assert ambiguous.status_code == 422
    assert "happens twice in Europe/Berlin" in ambiguous.text
    listed = await client.get(
        f"/api/v1/schedules/{world.id}/overrides", headers=world.owner.headers
    )
    assert listed.json()["items"] == []


async def test_the_services_refusals_are_shown_as_the_api_gives_them(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (alice_browser, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    backwards = await alice_browser.submit(
        world.page,
        f"/schedules/{world.id}/overrides",
        {"user_id": str(bob.id), "start": "2026-03-04T09:00", "end": "2026-03-03T09:00"},
    )
    assert backwards.status_code == 422
    assert "end must be after start" in backwards.text
    nobody = await alice_browser.submit(
        world.page,
        f"/schedules/{world.id}/overrides",
        {"user_id": "", "start": "2026-03-03T09:00", "end": "2026-03-04T09:00"},
    )
    assert nobody.status_code == 422
    assert "choose who covers" in nobody.text


async def test_a_viewer_cannot_create_an_override(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (_, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    viewer, _ = await sign_in(Role.VIEWER, time_zone="Europe/Berlin")
    page = (await viewer.get(world.page)).text
    assert "Create override" not in page
    refused = await viewer.submit(
        world.page,
        f"/schedules/{world.id}/overrides",
        {"user_id": str(bob.id), "start": "2026-03-03T09:00", "end": "2026-03-04T09:00"},
    )
    assert refused.status_code == 403
    assert "viewers can look but not change anything" in refused.text
    # A member of another team is refused by the service, as the API refuses them.
    outsider, _ = await sign_in(Role.MEMBER)
    assert "Create override" not in (await outsider.get(world.page)).text
    also_refused = await outsider.submit(
        world.page,
        f"/schedules/{world.id}/overrides",
        {"user_id": str(bob.id), "start": "2026-03-03T09:00", "end": "2026-03-04T09:00"},
    )
    assert also_refused.status_code == 403
    listed = await client.get(
        f"/api/v1/schedules/{world.id}/overrides", headers=world.owner.headers
    )
    assert listed.json()["items"] == []


async def test_an_override_without_the_csrf_token_is_refused(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (alice_browser, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    refused = await alice_browser.http.post(
        f"/schedules/{world.id}/overrides",
        data={"user_id": str(bob.id), "start": "2026-03-03T09:00", "end": "2026-03-04T09:00"},
    )
    assert refused.status_code == 403
    assert "did not come from a Baton page" in refused.text
    listed = await client.get(
        f"/api/v1/schedules/{world.id}/overrides", headers=world.owner.headers
    )
    assert listed.json()["items"] == []


# ------------------------------------------------------------------------------------ cover


async def test_ask_for_cover_on_my_shift_and_a_colleague_accepts(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (alice_browser, alice), (bob_browser, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    mine = (await alice_browser.get(world.page)).text
    assert "Ask for cover" in mine
    # The page's form carries the shift's bounds (Alice's week, from now on).
    assert 'name="end" value="2026-03-09T09:00:00+00:00"' in mine
    asked = await alice_browser.submit(
        world.page,
        f"/schedules/{world.id}/cover-requests",
        {
            "start": "2026-03-05T08:00:00+00:00",
            "end": "2026-03-06T08:00:00+00:00",
            "message": "school play",
        },
    )
    assert asked.status_code == 303, asked.text
    listed = await client.get(
        "/api/v1/cover-requests",
        headers=world.owner.headers,
        params={"schedule_id": world.id, "state": "open"},
    )
    (request,) = listed.json()["items"]
    assert (request["requester_id"], request["message"]) == (alice.id, "school play")
    # Alice sees her own request (to cancel); Bob sees it with Accept.
    assert "Cancel request" in table((await alice_browser.get(world.page)).text, "cover-requests")
    theirs = table((await bob_browser.get(world.page)).text, "cover-requests")
    assert "Alice Nguyen" in theirs and "school play" in theirs and ">Accept</button>" in theirs
    accepted = await bob_browser.submit(
        world.page, f"/schedules/{world.id}/cover-requests/{request['id']}/accept"
    )
    assert accepted.status_code == 303, accepted.text
    answer = await client.get(
        f"/api/v1/cover-requests/{request['id']}", headers=world.owner.headers
    )
    assert answer.json()["state"] == "accepted"
    assert answer.json()["accepted_by_id"] == bob.id
    shifts = await final_shifts(
        client, world.owner, world.id, "2026-03-05T00:00:00Z", "2026-03-07T00:00:00Z"
    )
    assert ("2026-03-05T08:00:00Z", "2026-03-06T08:00:00Z", bob.id) in shifts
    after = (await bob_browser.get(world.page)).text
    assert "No open cover requests." in after
    assert any(
        o["reason"] == f"cover request {request['id']}" for o in timeline_data(after)["overrides"]
    )


async def test_cover_cannot_be_accepted_by_a_viewer_or_without_the_token(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (_, alice), (bob_browser, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    asked = await client.post(
        f"/api/v1/schedules/{world.id}/cover-requests",
        headers=alice.headers,
        json={"start": "2026-03-05T08:00:00Z", "end": "2026-03-06T08:00:00Z"},
    )
    assert asked.status_code == 201, asked.text
    accept = f"/schedules/{world.id}/cover-requests/{asked.json()['id']}/accept"
    viewer, _ = await sign_in(Role.VIEWER)
    assert ">Accept</button>" not in (await viewer.get(world.page)).text
    assert (await viewer.submit(world.page, accept)).status_code == 403
    assert (await bob_browser.http.post(accept)).status_code == 403
    # Another schedule's address for the request is refused.
    other = await create_schedule(
        client, world.owner, world.team_id, name="Other", layers=[weekly_layer([bob.id])]
    )
    wrong = await bob_browser.submit(
        world.page, f"/schedules/{other['id']}/cover-requests/{asked.json()['id']}/accept"
    )
    assert wrong.status_code == 422
    state = await client.get(f"/api/v1/cover-requests/{asked.json()['id']}", headers=alice.headers)
    assert state.json()["state"] == "open"


# --------------------------------------------------------------------------------- calendar


async def test_the_calendar_link_is_shown_once_and_works(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    (alice_browser, alice), (_, bob) = await two_people(sign_in)
    world = await berlin_world(client, factory, alice, bob)
    made = await alice_browser.submit(world.page, f"/schedules/{world.id}/calendar-feed")
    assert made.status_code == 200
    match = re.search(r'id="feed-url" value="([^"]+)"', made.text)
    assert match is not None
    url = html.unescape(match[1])
    assert "/api/v1/calendars/batoncal" in url and url.endswith(".ics")
    feed = await client.get(url.partition("/api/")[1] + url.partition("/api/")[2])
    assert feed.status_code == 200
    assert "On call: Payments primary" in feed.text
    again = (await alice_browser.get(world.page)).text
    assert 'id="feed-url"' not in again
    assert "Your calendar links for this schedule" in again
    viewer, _ = await sign_in(Role.VIEWER)
    assert (
        await viewer.submit(world.page, f"/schedules/{world.id}/calendar-feed")
    ).status_code == 403
