"""The incident pages, read: the list (filters in the address, newest first, pages, the rows
fragment htmx polls) and one incident (alerts with labels, people, the whole timeline, in the
viewer's zone). The actions are in test_incidents_actions.py."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from app.core.auth import Role
from app.notify.messages import incident_path
from app.web.routes import incidents as incident_pages
from tests.factories import Actor, Factory
from tests.paging import api
from tests.web.browser import Browser, htmx_headers_in, new_client
from tests.web.conftest import SignIn
from tests.worlds import PaymentsWorld, build_payments_world

BrowserFor = Callable[[Actor], Awaitable[Browser]]
LABELS = {"alertname": "HighLatency", "instance": "10.0.0.7:9090", "severity": "critical"}


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> PaymentsWorld:
    """payments-api pages Alice first, then Bob; both are in team sre, in Berlin's zone."""
    return await build_payments_world(client, factory, time_zone="Europe/Berlin")


@pytest.fixture
async def browser_for(app: FastAPI) -> AsyncIterator[BrowserFor]:
    """A browser signed in as an existing user (by pasting their API token)."""
    opened: list[Browser] = []

    async def open_as(actor: Actor) -> Browser:
        browser = Browser(new_client(app))
        opened.append(browser)
        response = await browser.sign_in_with_token(actor.token)
        assert response.status_code == 303, response.text
        return browser

    yield open_as
    for browser in opened:
        await browser.http.aclose()


def htmx(page: str) -> dict[str, str]:
    """The headers htmx sends from ``page``: its CSRF token and HX-Request."""
    return {**json.loads(htmx_headers_in(page)), "HX-Request": "true"}


def row_of(page: str, incident_id: int) -> str:
    """The list's row for one incident."""
    match = re.search(rf'<tr data-incident-id="{incident_id}">(.*?)</tr>', page, re.S)
    assert match is not None, f"no row for incident {incident_id}"
    return match[1]


def listed_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-incident-id="(\d+)">', page)]


def buttons_in(page: str) -> list[str]:
    return [b.strip() for b in re.findall(r"<button[^>]*>([^<]*)</button>", page)]


def timeline_of(page: str) -> list[str]:
    section = page.partition('id="incident-timeline"')[2].partition("</section>")[0]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item)).strip()
        for item in re.findall(r"<li[^>]*>(.*?)</li>", section, re.S)
    ]


# ----------------------------------------------------------------------------------- the list


async def test_the_list_shows_each_incident_newest_first_in_the_viewers_zone(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    first = await world.fire("disk almost full")
    second = await world.fire("p99 latency above 2s")
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{first}/acknowledge")
    browser = await browser_for(world.alice)

    page = await browser.get("/incidents")

    assert page.status_code == 200
    assert listed_ids(page.text) == [second, first]
    row = row_of(page.text, first)
    # The state in words, not only a colour; the title links to the incident's page.
    assert ">Acknowledged</span>" in row
    assert f'<a href="/incidents/{first}" id="incident-link-{first}">disk almost full</a>' in row
    assert "High" in row and "payments-api" in row and "Alice" in row
    # Opened at 10:00 UTC: 11:00 in Berlin, zone named.
    assert "Mon 2 Mar 11:00 CET" in row
    assert ">Triggered</span>" in row_of(page.text, second)


async def test_filters_narrow_the_list_and_stay_in_the_address(
    world: PaymentsWorld, browser_for: BrowserFor, factory: Factory, client: httpx.AsyncClient
) -> None:
    acknowledged = await world.fire("acknowledged one")
    triggered = await world.fire("triggered one")
    low = await world.fire("low one")
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{acknowledged}/acknowledge")
    await api(
        world.client,
        world.alice,
        "POST",
        f"/api/v1/incidents/{low}/urgency",
        json={"urgency": "low"},
    )
    other_team = await api(
        client, world.admin, "POST", "/api/v1/teams", json={"name": "web", "kind": "dev"}
    )
    elsewhere = await api(
        client,
        world.admin,
        "POST",
        "/api/v1/services",
        json={"name": "storefront", "team_id": other_team["id"]},
    )
    opened_by_hand = await api(
        client,
        world.admin,
        "POST",
        "/api/v1/incidents",
        json={"service_id": elsewhere["id"], "title": "storefront down"},
    )
    browser = await browser_for(world.alice)

    async def ids(query: str) -> list[int]:
        page = await browser.get(f"/incidents?{query}")
        assert page.status_code == 200, page.text
        return listed_ids(page.text)

    assert await ids("state=acknowledged") == [acknowledged]
    assert await ids("state=triggered&state=acknowledged&urgency=high") == [
        opened_by_hand["id"],
        triggered,
        acknowledged,
    ]
    assert await ids("urgency=low") == [low]
    assert await ids(f"service_id={elsewhere['id']}") == [opened_by_hand["id"]]
    # Alice is paged for the payments incidents, nobody for the storefront.
    assert await ids("mine=1") == [low, triggered, acknowledged]
    # The form sends empty values for "any": they filter nothing.
    assert await ids("state=&service_id=&urgency=") == [
        opened_by_hand["id"],
        low,
        triggered,
        acknowledged,
    ]

    # The filtered view's form keeps its choices, and the live region polls the same view.
    page = (await browser.get("/incidents?state=triggered&urgency=high&mine=1")).text
    assert 'value="triggered" checked' in page and 'value="acknowledged">' in page
    assert 'value="high" selected' in page
    assert 'name="mine" value="1" checked' in page
    # The filter form stays open and says what it filters.
    assert "<summary>Filters: triggered, high urgency, assigned to me</summary>" in page
    assert (
        '<div id="incident-list"'
        ' hx-get="/incidents/rows?state=triggered&amp;urgency=high&amp;mine=1"'
        ' hx-trigger="every 3s"' in page
    )

    refused = await browser.get("/incidents?state=sleeping")
    assert refused.status_code == 422
    assert "state must be one of triggered, acknowledged, resolved" in refused.text


async def test_the_rows_fragment_is_the_list_region_alone_and_sees_new_incidents(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    browser = await browser_for(world.alice)
    page = await browser.get("/incidents?state=triggered")
    assert "No incident matches these filters." in page.text

    incident = await world.fire("checkout failing")
    rows = await browser.get("/incidents/rows?state=triggered", headers={"HX-Request": "true"})

    assert rows.status_code == 200
    assert "<html" not in rows.text and "<nav" not in rows.text.partition("<table")[0]
    assert listed_ids(rows.text) == [incident]
    assert "checkout failing" in row_of(rows.text, incident)


async def test_the_list_pages_through_older_incidents(
    world: PaymentsWorld, browser_for: BrowserFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incident_pages, "PAGE_SIZE", 2)
    opened = [await world.fire(f"alert {n}") for n in range(5)]
    browser = await browser_for(world.alice)

    seen: list[int] = []
    path: str | None = "/incidents?state=triggered"
    while path is not None:
        page = (await browser.get(path)).text
        seen += listed_ids(page)
        found = re.search(r'<a href="(/incidents\?[^"]*)">Older incidents</a>', page)
        path = found[1].replace("&amp;", "&") if found else None
        if path is not None:
            assert "state=triggered" in path
    assert seen == opened[::-1]


# ------------------------------------------------------------------------------ one incident


async def test_the_incident_page_shows_alerts_labels_people_and_the_whole_timeline(
    world: PaymentsWorld, browser_for: BrowserFor, sign_in: SignIn
) -> None:
    incident = await world.fire(
        "HighLatency on checkout", details={"labels": LABELS}, severity="critical"
    )
    await api(
        world.client,
        world.alice,
        "POST",
        f"/api/v1/incidents/{incident}/notes",
        json={"text": "looking at the database"},
    )
    detail = await world.incident(incident)
    viewer, _ = await sign_in(Role.VIEWER, time_zone="America/New_York")

    page = await viewer.get(incident_path(incident))

    assert page.status_code == 200
    text = page.text
    assert '<h1 class="incident-title">HighLatency on checkout</h1>' in text
    assert ">Triggered</span>" in text and ">High urgency</span>" in text
    assert f'<a href="/services/{world.service["id"]}">payments-api</a>' in text
    assert 'href="https://runbooks.example.internal/payments-api"' in text
    for name, value in LABELS.items():
        assert f"<code>{name}={value}</code>" in text
    assert "Alice" in text.partition("<dt>Assigned to</dt>")[2].partition("</div>")[0]
    # The timeline in the API's words, oldest first, at 05:00 in New York.
    entries = timeline_of(text)
    assert len(entries) == len(detail["timeline"])
    for entry, event in zip(entries, detail["timeline"], strict=True):
        assert entry == f"Mon 2 Mar 05:00 EST {event['message']}"
    assert entries[-1].endswith("looking at the database")
    # A viewer gets no buttons: the server would refuse them anyway.
    assert buttons_in(text.partition('id="incident"')[2]) == []
    assert (
        f'hx-get="/incidents/{incident}/live?shown_state=triggered&amp;shown_urgency=high"' in text
    )


async def test_the_link_in_a_page_message_opens_the_incident_after_sign_in(
    world: PaymentsWorld, browser: Browser
) -> None:
    incident = await world.fire()
    refused = await browser.get(incident_path(incident))
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/sign-in?next=%2Fincidents%2F{incident}"

    response = await browser.sign_in_with_token(world.alice.token, incident_path(incident))

    assert response.status_code == 303
    assert response.headers["location"] == incident_path(incident)
    page = await browser.get(incident_path(incident))
    assert "Acknowledge" in buttons_in(page.text)


async def test_an_unknown_incident_is_the_apis_404(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    page = await browser.get("/incidents/999999")
    assert page.status_code == 404
    assert "incident 999999 not found" in page.text


async def test_the_buttons_follow_the_state(world: PaymentsWorld, browser_for: BrowserFor) -> None:
    incident = await world.fire()
    browser = await browser_for(world.alice)
    actions = lambda page: buttons_in(page.partition('id="incident-actions"')[2])  # noqa: E731

    triggered = (await browser.get(f"/incidents/{incident}")).text
    assert actions(triggered) == [
        "Acknowledge",
        "Escalate",
        "Resolve",
        "Reassign",
        "Change urgency",
        "Add note",
    ]
    # The big button is the first control under the title: one tap acknowledges.
    under_title = triggered.partition('<h1 class="incident-title">')[2]
    first_control = re.search(
        r'<(button|select|textarea|input(?! type="hidden"))\b[^>]*>', under_title
    )
    assert first_control is not None and first_control[0] == '<button type="submit">'
    assert under_title.index("Acknowledge</button>") < under_title.index("<select")

    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident}/acknowledge")
    acknowledged = (await browser.get(f"/incidents/{incident}")).text
    assert actions(acknowledged)[:2] == ["Unacknowledge", "Escalate"]
    assert "Acknowledge" not in actions(acknowledged)

    # At the last step there is nowhere to escalate to.
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident}/escalate")
    last_step = (await browser.get(f"/incidents/{incident}")).text
    assert "Escalate" not in actions(last_step)


async def test_the_live_fragment_redraws_the_buttons_only_when_the_state_changed(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = (await browser.get(f"/incidents/{incident}")).text
    live = f"/incidents/{incident}/live?shown_state=triggered&shown_urgency=high"

    quiet = await browser.get(live, headers=htmx(page))
    assert quiet.status_code == 200
    assert 'id="incident-timeline"' in quiet.text
    assert '<div id="incident-status" class="incident-status" hx-swap-oob="true">' in quiet.text
    assert 'id="incident-actions"' not in quiet.text

    await api(world.client, world.bob, "POST", f"/api/v1/incidents/{incident}/acknowledge")
    changed = await browser.get(live, headers=htmx(page))
    assert 'id="incident-actions"' in changed.text and 'hx-swap-oob="true">' in changed.text
    assert "Unacknowledge" in buttons_in(changed.text)
    assert timeline_of(changed.text)[-1].endswith("Acknowledged by Bob via api")
    assert "shown_state=acknowledged" in changed.text
