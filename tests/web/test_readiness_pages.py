"""Readiness on the pages: the service's readiness page (score, band, checklist, sign-offs,
history, hand-over, handback, transitions), the overview, and their forms, which call the same
service as the API (``app.readiness.service``) and are checked through the API's answers.

The world: ``payments-api`` owned by the Dev team ``payments`` (Dina is a member), with Ops team
``ops`` (Otto is a member) and Ops's policy ``ops-primary``. The service was made at the clock's
now, so "run by its developers for at least 6 weeks" fails: a required item fails throughout,
which is what gates the hand-over.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core.auth import Role
from app.core.db import Database
from app.people.models import TeamKind
from app.readiness.models import HandbackProposal, RequestState
from tests.factories import Actor, Factory
from tests.paging import api
from tests.web.browser import Browser
from tests.web.conftest import SignIn
from tests.web.test_incidents import buttons_in


@dataclass
class ReadinessWorld:
    client: httpx.AsyncClient
    admin: Actor
    dev_team: dict[str, Any]
    ops_team: dict[str, Any]
    dev_policy: dict[str, Any]
    ops_policy: dict[str, Any]
    service: dict[str, Any]

    @property
    def page(self) -> str:
        return f"/services/{self.service['id']}/readiness"

    def action(self, rest: str) -> str:
        return f"{self.page}/{rest}"

    async def view(self) -> dict[str, Any]:
        return await api(self.client, self.admin, "GET", f"/api/v1{self.page}")


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> ReadinessWorld:
    admin = await factory.actor(Role.ADMIN, name="Ada Admin", email="ada@example.com")
    dev_team = await api(
        client, admin, "POST", "/api/v1/teams", json={"name": "payments", "kind": "dev"}
    )
    ops_team = await api(
        client, admin, "POST", "/api/v1/teams", json={"name": "ops", "kind": "ops"}
    )
    await factory.team(name="platform", kind=TeamKind.DEV)
    owner = await factory.user(name="Priya Owner")
    await factory.member(dev_team["id"], owner.id)
    steps = [{"delay_minutes": 5, "targets": [{"kind": "user", "user_id": owner.id}]}]
    dev_policy = await api(
        client,
        admin,
        "POST",
        "/api/v1/escalation-policies",
        json={"name": "payments-dev", "team_id": dev_team["id"], "steps": steps * 2},
    )
    ops_policy = await api(
        client,
        admin,
        "POST",
        "/api/v1/escalation-policies",
        json={"name": "ops-primary", "team_id": ops_team["id"], "steps": steps},
    )
    service = await api(
        client,
        admin,
        "POST",
        "/api/v1/services",
        json={
            "name": "payments-api",
            "team_id": dev_team["id"],
            "escalation_policy_id": dev_policy["id"],
            "runbook_url": "https://runbooks.example.internal/payments-api",
        },
    )
    return ReadinessWorld(client, admin, dev_team, ops_team, dev_policy, ops_policy, service)


async def _member_of(sign_in: SignIn, factory: Factory, team: dict[str, Any], name: str) -> Browser:
    browser, actor = await sign_in(Role.MEMBER, name=name)
    await factory.member(team["id"], actor.id)
    return browser


def _words(page: str) -> str:
    """A page's text without its tags, spaces collapsed (none before punctuation), entities
    read."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    return re.sub(r" ([:;,.])", r"\1", text)


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    return page[start : page.index("</section>", start)]


def _block(page: str, element_id: str, tag: str = "div") -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index(f"</{tag}>", start)]


def _item_row(page: str, key: str) -> str:
    match = re.search(rf'<tr data-item="{key}">(.*?)</tr>', page, re.S)
    assert match is not None, f"no checklist row for {key}"
    return _words(match[1])


async def _request_handover(world: ReadinessWorld, note: str = "") -> dict[str, Any]:
    return await api(
        world.client,
        world.admin,
        "POST",
        f"/api/v1/services/{world.service['id']}/handover",
        json={"ops_team_id": world.ops_team["id"], "note": note},
    )


async def _accept_with_override(world: ReadinessWorld) -> None:
    request = await _request_handover(world)
    await api(
        world.client,
        world.admin,
        "POST",
        f"/api/v1/handover-requests/{request['id']}/accept",
        json={"escalation_policy_id": world.ops_policy["id"], "override_reason": "launch week"},
    )


# ------------------------------------------------------------------------------------ the page


async def test_the_page_shows_the_score_band_thresholds_and_every_item(
    world: ReadinessWorld, sign_in: SignIn
) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    view = await world.view()

    response = await browser.get(world.page)

    assert response.status_code == 200
    page = response.text
    assert '<nav aria-label="breadcrumb">' in page
    summary = _words(_section(page, "readiness-summary"))
    assert f"{view['current']['score']}/100" in summary
    assert "Band: needs attention" in summary or "Band: failing" in summary
    assert f"Band: {view['current']['band'].replace('_', ' ')}" in summary
    failing = len(view["failing_required"])
    assert f"{failing} required items fail" in summary
    # The thresholds, in words.
    assert "failing below 50" in summary
    assert "passing at 50 or more with every required item met" in summary
    # Every item with required/optional, weight, outcome and its evidence sentence.
    for result in view["current"]["results"]:
        row = _item_row(page, result["key"])
        assert result["title"] in row
        assert ("Required" if result["required"] else "Optional") in row
        assert f" {result['weight']} " in f" {row} "
        assert ("Not met" if not result["met"] else "Met") in row
        assert html.unescape(result["evidence"]) in row
    assert "Not met" in _item_row(page, "self_managed")
    assert "Met" in _item_row(page, "runbook") and "Not met" not in _item_row(page, "runbook")
    # No history yet, so no chart; nobody has requested a hand-over.
    assert "No evaluation is stored yet" in page
    assert "chart.umd.min.js" not in page


async def test_the_service_pages_link_to_readiness(world: ReadinessWorld, sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.VIEWER)

    service_page = (await browser.get(f"/services/{world.service['id']}")).text
    services = (await browser.get("/services")).text
    readiness = (await browser.get(world.page)).text

    assert f'<a href="{world.page}" id="service-readiness-link">Readiness</a>' in service_page
    assert '<a href="/readiness" id="readiness-overview-link">' in services
    assert '<a href="/readiness">Readiness of every service</a>' in readiness
    overview = (await browser.get("/readiness")).text
    assert '<a href="/readiness" aria-current="page">Readiness</a>' in overview, "in the nav bar"
    assert '<a href="/readiness">Readiness</a>' in services, "reached from every page"


async def test_re_evaluate_now_keeps_an_evaluation_and_the_history_shows_what_changed(
    world: ReadinessWorld, sign_in: SignIn, factory: Factory
) -> None:
    owner = await _member_of(sign_in, factory, world.dev_team, "Dina Dev")

    first = await owner.submit(world.page, world.action("evaluate"))
    assert first.status_code == 303
    assert first.headers["location"] == f"{world.page}?done=evaluated#readiness-history"
    await owner.submit(
        world.page, world.action("sign-offs/monitoring"), {"comment": "dashboards reviewed"}
    )
    await owner.submit(world.page, world.action("evaluate"))

    view = await world.view()
    assert [e["trigger"] for e in view["history"]] == ["on_demand", "on_demand"]
    page = (await owner.get(first.headers["location"])).text
    assert "Evaluated and kept in the history." in _words(page)
    history = _section(page, "readiness-history")
    rows = re.findall(r"<tr>(.*?)</tr>", history.partition("<tbody>")[2], re.S)
    assert len(rows) == 2
    newest = _words(rows[0])
    assert f"on demand Dev {view['history'][0]['score']}" in newest
    assert "Monitoring coverage reviewed: not met → met" in newest
    assert "signed off by Dina Dev" in newest
    # The chart draws the same scores, oldest first, with the vendored Chart.js.
    assert "vendor/chart.js/chart.umd.min.js" in page
    block = re.search(r'<script type="application/json" id="metrics-charts">(.*?)</script>', page)
    assert block is not None
    [chart] = json.loads(block[1])
    assert chart["canvas"] == "readiness-score-chart"
    assert 'id="readiness-score-chart"' in history
    assert chart["series"][0]["values"] == [float(e["score"]) for e in reversed(view["history"])]


async def test_a_sign_off_is_made_and_withdrawn_from_the_page(
    world: ReadinessWorld, sign_in: SignIn, factory: Factory
) -> None:
    owner = await _member_of(sign_in, factory, world.dev_team, "Dina Dev")

    signed = await owner.submit(
        world.page, world.action("sign-offs/rollback"), {"comment": "rehearsed on Friday"}
    )

    assert signed.status_code == 303
    view = await world.view()
    [sign_off] = [s for s in view["sign_offs"] if s["item_key"] == "rollback"]
    assert (sign_off["signed_by_name"], sign_off["comment"]) == ("Dina Dev", "rehearsed on Friday")
    page = (await owner.get(world.page)).text
    item = _words(_block(page, "item-rollback", "li"))
    assert "signed off by Dina Dev on 2026-03-02: “rehearsed on Friday”" in item
    assert "Friday”." not in item
    assert "Met" in _item_row(page, "rollback") and "Not met" not in _item_row(page, "rollback")
    assert "Withdraw sign-off: Rollback documented and rehearsed" in buttons_in(page)

    withdrawn = await owner.submit(world.page, world.action("sign-offs/rollback/withdraw"))

    assert withdrawn.status_code == 303
    assert [s for s in (await world.view())["sign_offs"] if s["item_key"] == "rollback"] == []
    page = (await owner.get(world.page)).text
    assert "Sign off: Rollback documented and rehearsed" in buttons_in(page)


async def test_a_sign_off_by_someone_outside_both_teams_is_refused_on_the_page(
    world: ReadinessWorld, sign_in: SignIn
) -> None:
    outsider, _ = await sign_in(Role.MEMBER, name="Olga Outsider")
    page = (await outsider.get(world.page)).text
    # Not in the owner team nor the Ops team: no sign-off form.
    assert not [b for b in buttons_in(page) if b.startswith("Sign off:")]

    refused = await outsider.submit(world.page, world.action("sign-offs/monitoring"))

    assert refused.status_code == 403
    flash = _words(_block(refused.text, "readiness-error"))
    assert "Olga Outsider is in neither the owner team nor the Ops team" in flash
    # The page itself, not an error page: the checklist is still there.
    assert 'id="readiness-items"' in refused.text
    assert (await world.view())["sign_offs"] == []


# ------------------------------------------------------------------------------ the hand-over


async def test_the_owner_team_requests_a_hand_over_from_the_page(
    world: ReadinessWorld, sign_in: SignIn, factory: Factory
) -> None:
    owner = await _member_of(sign_in, factory, world.dev_team, "Dina Dev")
    page = (await owner.get(world.page)).text
    form = _block(page, "request-handover-form", "form")
    # Only the Ops teams are offered.
    assert re.findall(r"<option[^>]*>([^<]*)</option>", form) == ["ops"]

    response = await owner.submit(
        world.page,
        world.action("handover"),
        {"ops_team_id": str(world.ops_team["id"]), "note": "ready for launch"},
    )

    assert response.status_code == 303
    view = await world.view()
    request = view["open_handover"]
    assert request["ops_team_id"] == world.ops_team["id"]
    assert request["note"] == "ready for launch"
    page = (await owner.get(world.page)).text
    panel = _words(_block(page, "open-handover"))
    assert "Hand-over requested to ops by Dina Dev" in panel
    assert "Note: ready for launch" in panel
    # The request form is gone while one is open; the owner may withdraw it.
    assert 'id="request-handover-form"' not in page
    assert "Withdraw the request" in buttons_in(page)
    assert "Accept hand-over" not in buttons_in(page)

    withdrawn = await owner.submit(world.page, world.action(f"handover/{request['id']}/withdraw"))

    assert withdrawn.status_code == 303
    assert (await world.view())["open_handover"] is None


async def test_ops_cannot_accept_while_required_items_fail(
    world: ReadinessWorld, sign_in: SignIn, factory: Factory
) -> None:
    request = await _request_handover(world)
    ops = await _member_of(sign_in, factory, world.ops_team, "Otto Ops")
    view = await world.view()
    assert view["handover_allowed"] is False

    page = (await ops.get(world.page)).text

    form = _block(page, "accept-handover-form", "form")
    assert re.search(r"<button type=\"submit\" disabled[^>]*>Accept hand-over</button>", form)
    assert 'name="override_reason"' not in form
    failing = _words(_block(page, "handover-failing-items", "ul"))
    assert "Run by its developers for at least 6 weeks" in failing
    # Pressing it anyway (an old page, a hand-made request): refused on the page, which lists
    # the failing items with their evidence.
    refused = await ops.submit(
        world.page,
        world.action(f"handover/{request['id']}/accept"),
        {"escalation_policy_id": str(world.ops_policy["id"])},
    )

    assert refused.status_code == 409
    flash = _block(refused.text, "readiness-error")
    assert "required items fail" in _words(flash)
    listed = _words(_block(flash, "readiness-error-items", "ul"))
    for key in view["failing_required"]:
        [result] = [r for r in view["current"]["results"] if r["key"] == key]
        assert f"{result['title']}: {html.unescape(result['evidence'])}" in listed
    assert (await world.view())["support_model"] == "dev"


async def test_an_admin_accepts_with_an_override_reason_and_keeps_the_developers(
    world: ReadinessWorld, sign_in: SignIn
) -> None:
    request = await _request_handover(world)
    admin, _ = await sign_in(Role.ADMIN, name="Ann Admin")
    page = (await admin.get(world.page)).text
    form = _block(page, "accept-handover-form", "form")
    assert 'name="override_reason"' in form
    assert re.search(r"<button type=\"submit\">Accept hand-over</button>", form)
    # Ops's policy is offered first.
    assert re.findall(r"<option[^>]*>([^<]*)</option>", form)[0] == "ops-primary"

    without_reason = await admin.submit(
        world.page,
        world.action(f"handover/{request['id']}/accept"),
        {"escalation_policy_id": str(world.ops_policy["id"])},
    )
    assert without_reason.status_code == 409
    assert "Run by its developers" in _words(_block(without_reason.text, "readiness-error"))

    accepted = await admin.submit(
        world.page,
        world.action(f"handover/{request['id']}/accept"),
        {
            "escalation_policy_id": str(world.ops_policy["id"]),
            "keep_developers": "yes",
            "override_reason": "launch week, signed off by the CTO",
        },
    )

    assert accepted.status_code == 303
    view = await world.view()
    assert view["support_model"] == "ops"
    [transition] = view["transitions"]
    assert transition["overridden"] is True
    assert transition["reason"] == "launch week, signed off by the CTO"
    policy = await api(world.client, world.admin, "GET", f"/api/v1/services/{world.service['id']}")
    assert policy["escalation_policy_id"] != world.ops_policy["id"]  # a copy with the developers
    page = (await admin.get(accepted.headers["location"])).text
    assert "Hand-over accepted" in _words(page)
    table = _words(_section(page, "readiness-transitions"))
    assert "Hand-over to Ops Ann Admin" in table
    assert "launch week, signed off by the CTO Yes: required items failed" in table
    assert f"{transition['score']}/100" in table
    assert "Hand back to developers" in buttons_in(page)


async def test_ops_declines_a_hand_over_with_a_reason(
    world: ReadinessWorld, sign_in: SignIn, factory: Factory
) -> None:
    request = await _request_handover(world)
    ops = await _member_of(sign_in, factory, world.ops_team, "Otto Ops")

    without_reason = await ops.submit(
        world.page, world.action(f"handover/{request['id']}/decline"), {"reason": "  "}
    )
    assert without_reason.status_code == 422
    assert "say why the hand-over is declined" in _words(without_reason.text)
    assert (await world.view())["open_handover"] is not None

    declined = await ops.submit(
        world.page,
        world.action(f"handover/{request['id']}/decline"),
        {"reason": "no runbook drill"},
    )

    assert declined.status_code == 303
    assert (await world.view())["open_handover"] is None
    page = (await ops.get(declined.headers["location"])).text
    assert "Hand-over declined; both teams have been told." in _words(page)
    assert 'id="request-handover-form"' not in page  # Otto is not in the owner team


async def test_a_member_outside_ops_sees_no_accept_and_is_refused(
    world: ReadinessWorld, sign_in: SignIn
) -> None:
    request = await _request_handover(world)
    other, _ = await sign_in(Role.MEMBER, name="Mo Member")

    page = (await other.get(world.page)).text
    assert "Accept hand-over" not in buttons_in(page)
    assert "Decline hand-over" not in buttons_in(page)

    refused = await other.submit(
        world.page, world.action(f"handover/{request['id']}/decline"), {"reason": "not mine"}
    )
    assert refused.status_code == 403
    assert "only members of the Ops team (ops) or admins" in _words(refused.text)


async def test_a_request_of_another_service_is_not_found_here(
    world: ReadinessWorld, sign_in: SignIn, client: httpx.AsyncClient
) -> None:
    request = await _request_handover(world)
    other = await api(
        client,
        world.admin,
        "POST",
        "/api/v1/services",
        json={"name": "ledger", "team_id": world.dev_team["id"]},
    )
    admin, _ = await sign_in(Role.ADMIN)

    response = await admin.submit(
        world.page,
        f"/services/{other['id']}/readiness/handover/{request['id']}/decline",
        {"reason": "wrong page"},
    )

    assert response.status_code == 404
    assert (await world.view())["open_handover"] is not None


# ------------------------------------------------------------------------------- the handback


async def _propose(db: Database, world: ReadinessWorld) -> int:
    """A proposal as the nightly review opens one (its breaches and window)."""
    now = db.clock.now()
    async with db.transaction() as session:
        proposal = HandbackProposal(
            service_id=world.service["id"],
            created_at=now,
            window_since=now - timedelta(days=28),
            window_until=now,
            breaches=[
                {
                    "key": "pager_load",
                    "title": "Pages per 12-hour shift",
                    "evidence": "3.5 pages per shift, above 2",
                }
            ],
            state=RequestState.OPEN,
            due_at=None,
        )
        session.add(proposal)
        await session.flush()
        return proposal.id


async def test_ops_accepts_a_handback_and_the_page_shows_the_exit_criteria(
    world: ReadinessWorld, sign_in: SignIn, factory: Factory, db: Database
) -> None:
    await _accept_with_override(world)
    proposal = await _propose(db, world)
    ops = await _member_of(sign_in, factory, world.ops_team, "Otto Ops")

    page = (await ops.get(world.page)).text
    panel = _words(_block(page, "open-proposal"))
    assert "Handback proposed" in panel
    assert "Pages per 12-hour shift: 3.5 pages per shift, above 2" in panel
    assert "It waits for Ops's answer." in panel
    assert {"Accept handback", "Decline handback"} <= set(buttons_in(page))

    accepted = await ops.submit(
        world.page, world.action(f"handback/{proposal}/accept"), {"reason": "fair"}
    )

    assert accepted.status_code == 303
    view = await world.view()
    assert (view["support_model"], view["handed_back"]) == ("dev", True)
    page = (await ops.get(world.page)).text
    banner = _words(_block(page, "readiness-handed-back", "p"))
    left = len(view["failing_required"])
    assert "Handed back to its developers; ops consults." in banner
    assert f"{left} required item{'s' if left != 1 else ''} left" in banner
    assert "Exit criteria" in _words(_section(page, "readiness-checklist"))
    table = _words(_section(page, "readiness-transitions"))
    assert table.index("Handback to developers Otto Ops") < table.index("Hand-over to Ops")


async def test_ops_declines_a_handback_with_a_reason(
    world: ReadinessWorld, sign_in: SignIn, factory: Factory, db: Database
) -> None:
    await _accept_with_override(world)
    proposal = await _propose(db, world)
    ops = await _member_of(sign_in, factory, world.ops_team, "Otto Ops")

    refused = await ops.submit(world.page, world.action(f"handback/{proposal}/decline"))
    assert refused.status_code == 422
    assert "say why the handback is declined" in _words(refused.text)

    declined = await ops.submit(
        world.page, world.action(f"handback/{proposal}/decline"), {"reason": "a one-off"}
    )

    assert declined.status_code == 303
    view = await world.view()
    assert (view["support_model"], view["open_proposal"]) == ("ops", None)


async def test_ops_hands_a_service_back_from_the_page(
    world: ReadinessWorld, sign_in: SignIn, factory: Factory
) -> None:
    await _accept_with_override(world)
    ops = await _member_of(sign_in, factory, world.ops_team, "Otto Ops")

    empty = await ops.submit(world.page, world.action("hand-back"), {"reason": ""})
    assert empty.status_code == 422
    assert 'id="readiness-error"' in empty.text
    assert (await world.view())["support_model"] == "ops"

    response = await ops.submit(
        world.page, world.action("hand-back"), {"reason": "too many pages at night"}
    )

    assert response.status_code == 303
    view = await world.view()
    assert view["handed_back"] is True
    assert view["transitions"][0]["reason"] == "too many pages at night"


# ------------------------------------------------------------------------------ who may do what


async def test_a_viewer_sees_the_page_without_a_single_form_and_cannot_write(
    world: ReadinessWorld, sign_in: SignIn
) -> None:
    request = await _request_handover(world)  # stores an evaluation (trigger "handover")
    viewer, _ = await sign_in(Role.VIEWER)

    page = (await viewer.get(world.page)).text

    assert buttons_in(page) == ["Sign out"]
    refused = await viewer.submit(world.page, world.action("evaluate"))
    assert refused.status_code == 403
    refused = await viewer.submit(
        world.page,
        world.action(f"handover/{request['id']}/accept"),
        {"escalation_policy_id": str(world.ops_policy["id"]), "override_reason": "x"},
    )
    assert refused.status_code == 403
    view = await world.view()
    assert ([e["trigger"] for e in view["history"]], view["support_model"]) == (["handover"], "dev")


async def test_a_write_without_its_csrf_token_is_refused(
    world: ReadinessWorld, sign_in: SignIn
) -> None:
    admin, _ = await sign_in(Role.ADMIN)

    response = await admin.http.post(world.action("evaluate"), data={})

    assert response.status_code == 403
    assert "did not come from a Baton page" in response.text
    assert (await world.view())["history"] == []


# ------------------------------------------------------------------------------- the overview


async def test_the_overview_lists_every_service_with_its_score_and_markers(
    world: ReadinessWorld, sign_in: SignIn, client: httpx.AsyncClient
) -> None:
    other = await api(
        client,
        world.admin,
        "POST",
        "/api/v1/services",
        json={"name": "ledger", "team_id": world.dev_team["id"]},
    )
    stored = await api(
        client, world.admin, "POST", f"/api/v1/services/{world.service['id']}/readiness/evaluations"
    )
    await _request_handover(world)
    browser, _ = await sign_in(Role.VIEWER)

    page = (await browser.get("/readiness")).text

    rows = dict(
        (int(service_id), _words(row))
        for service_id, row in re.findall(r'<tr data-service-id="(\d+)">(.*?)</tr>', page, re.S)
    )
    assert set(rows) == {world.service["id"], other["id"]}
    payments = rows[world.service["id"]]
    # request_handover stores an evaluation too: the latest is that one, same score.
    assert f"payments-api payments Dev {stored['score']}/100" in payments
    assert stored["band"].replace("_", " ") in payments
    assert "Hand-over requested" in payments
    dash = "\N{EN DASH}"
    assert rows[other["id"]] == f"ledger payments Dev {dash} not evaluated yet never {dash}"
    assert f'<a href="{world.page}">payments-api</a>' in page
    assert "failing below 50" in _words(page)
