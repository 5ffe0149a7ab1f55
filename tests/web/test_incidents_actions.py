"""The incident page's actions: each calls the same service as the API with the signed-in
person, so the API sees the change and the timeline says it came "via web"; the server refuses
what the API refuses (viewers, outsiders, a resolved incident, a form without its token) with
the API's own words."""

from __future__ import annotations

import html
from typing import Any

import httpx

from app.core.auth import Role
from tests.factories import Factory
from tests.web import test_incidents as incident_pages
from tests.web.conftest import SignIn
from tests.web.test_incidents import BrowserFor, buttons_in, htmx, timeline_of
from tests.worlds import PaymentsWorld

# The read tests' fixtures: payments-api's world, and browsers for its people.
world = incident_pages.world
browser_for = incident_pages.browser_for


async def _api_incident(world: PaymentsWorld, incident: int) -> dict[str, Any]:
    return await world.incident(incident)


async def test_acknowledge_from_the_page_acknowledges_and_says_so_via_web(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = f"/incidents/{incident}"

    response = await browser.submit(page, f"{page}/acknowledge")

    assert response.status_code == 303
    assert response.headers["location"] == page
    detail = await _api_incident(world, incident)
    assert detail["state"] == "acknowledged"
    assert detail["acknowledged_by_id"] == world.alice.id
    [acknowledged] = [e for e in detail["timeline"] if e["kind"] == "acknowledged"]
    assert acknowledged["channel"] == "web"
    assert acknowledged["actor_user_id"] == world.alice.id
    shown = (await browser.get(page)).text
    assert timeline_of(shown)[-1].endswith(acknowledged["message"])
    assert acknowledged["message"] == "Acknowledged by Alice via web"
    assert ">Acknowledged</span>" in shown
    assert "Unacknowledge" in buttons_in(shown) and "Acknowledge" not in buttons_in(shown)


async def test_acknowledge_with_htmx_redraws_the_incident_and_says_it_in_the_flash_area(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = (await browser.get(f"/incidents/{incident}")).text

    response = await browser.http.post(f"/incidents/{incident}/acknowledge", headers=htmx(page))

    assert response.status_code == 200
    assert response.text.startswith('<div id="incident">')
    assert '<div hx-swap-oob="innerHTML:#flash"><p class="flash" role="status">Acknowledged.' in (
        response.text
    )
    assert "Unacknowledge" in buttons_in(response.text)
    assert timeline_of(response.text)[-1].endswith("Acknowledged by Alice via web")
    assert (await _api_incident(world, incident))["state"] == "acknowledged"

    undone = await browser.http.post(f"/incidents/{incident}/unacknowledge", headers=htmx(page))
    assert undone.status_code == 200
    assert (await _api_incident(world, incident))["state"] == "triggered"
    assert "Acknowledge" in buttons_in(undone.text)


async def test_a_viewer_is_refused_with_the_apis_message(
    world: PaymentsWorld, sign_in: SignIn
) -> None:
    incident = await world.fire()
    viewer, _ = await sign_in(Role.VIEWER)
    page = f"/incidents/{incident}"

    for action, data in (
        ("acknowledge", {}),
        ("resolve", {"note": "fixed"}),
        ("notes", {"text": "hello"}),
        ("urgency", {"urgency": "low"}),
    ):
        refused = await viewer.submit(page, f"{page}/{action}", data)
        assert refused.status_code == 403, action
        assert "viewers can look but not change anything" in refused.text
    detail = await _api_incident(world, incident)
    assert detail["state"] == "triggered" and detail["urgency"] == "high"
    assert not [e for e in detail["timeline"] if e["kind"] == "note"]


async def test_someone_outside_the_team_is_refused_as_by_the_api(
    world: PaymentsWorld, sign_in: SignIn
) -> None:
    incident = await world.fire()
    outsider, actor = await sign_in(Role.MEMBER)
    from_api = await world.client.post(
        f"/api/v1/incidents/{incident}/acknowledge", headers=actor.headers
    )
    assert from_api.status_code == 403

    refused = await outsider.submit(f"/incidents/{incident}", f"/incidents/{incident}/acknowledge")

    assert refused.status_code == 403
    assert from_api.json()["detail"] in html.unescape(refused.text)
    assert (await _api_incident(world, incident))["state"] == "triggered"
    # They are shown no buttons: the service's own check says they may not act.
    assert buttons_in((await outsider.get(f"/incidents/{incident}")).text) == ["Sign out"]


async def test_a_write_without_its_csrf_token_is_refused(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    incident = await world.fire()
    browser = await browser_for(world.alice)

    missing = await browser.http.post(f"/incidents/{incident}/acknowledge")
    wrong = await browser.http.post(
        f"/incidents/{incident}/acknowledge", data={"csrf_token": "0" * 64}
    )
    wrong_header = await browser.http.post(
        f"/incidents/{incident}/acknowledge",
        headers={"HX-Request": "true", "X-CSRF-Token": "0" * 64},
    )

    for refused in (missing, wrong, wrong_header):
        assert refused.status_code == 403
        assert "did not come from a Baton page" in refused.text
    assert (await _api_incident(world, incident))["state"] == "triggered"


async def test_a_resolved_incident_has_no_buttons_and_refuses_with_the_apis_message(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = f"/incidents/{incident}"

    resolved = await browser.submit(page, f"{page}/resolve", {"note": "rolled back the deploy"})

    assert resolved.status_code == 303
    detail = await _api_incident(world, incident)
    assert detail["state"] == "resolved" and detail["resolved_by_id"] == world.alice.id
    [event] = [e for e in detail["timeline"] if e["kind"] == "resolved"]
    assert event["channel"] == "web" and "rolled back the deploy" in event["message"]

    shown = (await browser.get(page)).text
    assert ">Resolved</span>" in shown
    # Nothing left to do to it but write down what was found (the API takes notes still).
    assert buttons_in(shown.partition('id="incident-actions"')[2]) == ["Add note"]

    from_api = await world.client.post(
        f"/api/v1/incidents/{incident}/acknowledge", headers=world.alice.headers
    )
    assert from_api.status_code == 409
    message = from_api.json()["detail"]
    refused = await browser.submit(page, f"{page}/acknowledge")
    assert refused.status_code == 409
    assert message in refused.text
    # With htmx the same words go to the page's flash area.
    flashed = await browser.http.post(f"{page}/escalate", headers=htmx(shown))
    assert flashed.status_code == 409
    assert flashed.headers["HX-Retarget"] == "#flash"
    escalate_from_api = await world.client.post(
        f"/api/v1/incidents/{incident}/escalate", headers=world.alice.headers
    )
    assert escalate_from_api.json()["detail"] in flashed.text


async def test_reassign_hands_the_incident_to_the_chosen_person(
    world: PaymentsWorld, browser_for: BrowserFor, factory: Factory
) -> None:
    carol = await factory.user(name="Carol")
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = f"/incidents/{incident}"
    shown = (await browser.get(page)).text
    # Everyone can be chosen, by name.
    for person in ("Alice", "Bob", "Carol"):
        assert f">{person}" in shown.partition('id="reassign-person"')[2].partition("</select>")[0]

    response = await browser.submit(page, f"{page}/reassign", {"user_id": str(carol.id)})

    assert response.status_code == 303
    detail = await _api_incident(world, incident)
    assert [a["user_id"] for a in detail["assignees"] if not a["shadow"]] == [carol.id]
    [event] = [e for e in detail["timeline"] if e["kind"] == "reassigned"]
    assert event["channel"] == "web"
    assert event["message"] == "Alice handed the incident from Alice to Carol via web"
    facts = (await browser.get(page)).text.partition('id="incident-facts"')[2]
    assert "Carol" in facts.partition("<dt>Assigned to</dt>")[2].partition("</div>")[0]

    nobody = await browser.submit(page, f"{page}/reassign", {"user_id": ""})
    assert nobody.status_code == 422
    assert "choose a person" in nobody.text
    unknown = await browser.submit(page, f"{page}/reassign", {"user_id": "999999"})
    assert unknown.status_code == 422
    assert "user 999999 does not exist" in unknown.text


async def test_a_note_goes_on_the_timeline(world: PaymentsWorld, browser_for: BrowserFor) -> None:
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = f"/incidents/{incident}"

    response = await browser.submit(page, f"{page}/notes", {"text": "  the database is slow  "})

    assert response.status_code == 303
    [note] = [e for e in (await _api_incident(world, incident))["timeline"] if e["kind"] == "note"]
    assert note["message"] == "the database is slow" and note["channel"] == "web"
    assert timeline_of((await browser.get(page)).text)[-1].endswith("the database is slow")

    empty = await browser.submit(page, f"{page}/notes", {"text": "   "})
    assert empty.status_code == 422
    too_long = await browser.submit(page, f"{page}/notes", {"text": "x" * 2001})
    assert too_long.status_code == 422
    notes = [e for e in (await _api_incident(world, incident))["timeline"] if e["kind"] == "note"]
    assert len(notes) == 1


async def test_change_urgency(world: PaymentsWorld, browser_for: BrowserFor) -> None:
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = f"/incidents/{incident}"
    shown = (await browser.get(page)).text
    # The choice offered is the other urgency.
    assert '<option value="low" selected>' in shown

    response = await browser.submit(page, f"{page}/urgency", {"urgency": "low"})

    assert response.status_code == 303
    detail = await _api_incident(world, incident)
    assert detail["urgency"] == "low"
    [event] = [e for e in detail["timeline"] if e["kind"] == "urgency_changed"]
    assert event["channel"] == "web"
    assert ">Low urgency</span>" in (await browser.get(page)).text

    refused = await browser.submit(page, f"{page}/urgency", {"urgency": "panic"})
    assert refused.status_code == 422
    assert "urgency must be one of high, low" in refused.text


async def test_escalate_pages_the_next_step(
    world: PaymentsWorld, browser_for: BrowserFor, client: httpx.AsyncClient
) -> None:
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = f"/incidents/{incident}"

    response = await browser.submit(page, f"{page}/escalate")

    assert response.status_code == 303
    detail = await _api_incident(world, incident)
    assert detail["escalation_step"] == 1
    assert world.bob.id in [a["user_id"] for a in detail["assignees"]]
    manual = [e for e in detail["timeline"] if e["channel"] == "web"]
    assert manual and "escalated to the next step via web" in manual[0]["message"]
    # The last step: the button is gone and the server says why.
    assert "Escalate" not in buttons_in((await browser.get(page)).text)
    again = await browser.submit(page, f"{page}/escalate")
    assert again.status_code == 409
    assert "already at the last step" in again.text
