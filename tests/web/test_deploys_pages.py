"""Deploys on the pages: the incident page's "Deploy nearby" panel and its two buttons, the
service page's recent deploys and watch settings, the deploy list (filters in the address,
newest first, pages) and one deploy's page (verdict, watch, incidents, links, commit).

Deploys are reported as a pipeline reports them (``POST /api/v1/deployments``), except those
that carry what the API refuses (a ``javascript:`` link): they are recorded with the service
every sender hands its report to, as a sender that checks less might.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.catalog.models import Service
from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.deploys import service as deploys
from app.deploys.models import Deployment, DeploySource, DeployStatus
from app.deploys.schemas import DeployReport
from app.deploys.service import verdict_of_row
from app.web.routes import deploys as deploy_pages
from tests.conftest import DEFAULT_NOW
from tests.factories import Factory
from tests.paging import api
from tests.web import test_incidents as incident_pages
from tests.web.conftest import SignIn
from tests.web.test_incidents import BrowserFor, buttons_in, htmx
from tests.worlds import PaymentsWorld

world = incident_pages.world
browser_for = incident_pages.browser_for

REPO = "https://git.example.com/shop/payments"
SHA = "0123456789abcdef0123456789abcdef01234567"


def _at(minutes_ago: int) -> str:
    return (DEFAULT_NOW - timedelta(minutes=minutes_ago)).isoformat()


def _words(page: str) -> str:
    """A page's text without its tags, spaces collapsed, entities read."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    return page[start : page.index("</section>", start)]


def _section_dl(page: str, dl_id: str) -> str:
    start = page.index(f'<dl id="{dl_id}"')
    return page[page.index(">", start) + 1 : page.index("</dl>", start)]


async def _report(world: PaymentsWorld, **body: Any) -> dict[str, Any]:
    """A deploy of payments-api as a pipeline reports it (the admin's token)."""
    return await api(
        world.client,
        world.admin,
        "POST",
        "/api/v1/deployments",
        json={"service": "payments-api", "environment": "production", **body},
    )


async def _two_deploys(world: PaymentsWorld) -> tuple[dict[str, Any], dict[str, Any]]:
    """v1.4.1 two hours ago (long out of its watch), then v1.4.2 by dina, finished 12 minutes
    before the clock's now: an incident opening now opens after v1.4.2."""
    earlier = await _report(
        world, version="v1.4.1", started_at=_at(125), finished_at=_at(120), deployer="dina"
    )
    latest = await _report(
        world,
        version="v1.4.2",
        summary="Faster card authorisations",
        commit_sha=SHA,
        repository_url=REPO,
        deployer="dina",
        started_at=_at(15),
        finished_at=_at(12),
        links=[{"href": "https://ci.example.com/runs/77", "text": "Pipeline run 77"}],
        external_id="run-77",
    )
    return earlier, latest


async def _verdict(world: PaymentsWorld, deployment_id: int) -> dict[str, Any]:
    return await api(
        world.client, world.admin, "GET", f"/api/v1/deployments/{deployment_id}/verdict"
    )


async def _link(world: PaymentsWorld, incident: int) -> dict[str, Any]:
    [link] = await api(world.client, world.admin, "GET", f"/api/v1/incidents/{incident}/deploys")
    return link


# ---------------------------------------------------------------------- the incident page


async def test_the_incident_page_names_the_deploy_it_opened_after(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    _, latest = await _two_deploys(world)
    incident = await world.fire()
    browser = await browser_for(world.alice)

    page = (await browser.get(f"/incidents/{incident}")).text

    panel = _section(page, "incident-deploy")
    assert " hidden" not in panel.partition(">")[0]
    said = _words(panel)
    assert "Deploy nearby" in said
    assert "Opened 12 minutes after deploy v1.4.2 to production by dina." in said
    assert "Previous version (rollback target) v1.4.1" in said
    assert "Deployed by dina" in said
    # 09:48 UTC, in Alice's zone.
    assert "Deployed Mon 2 Mar 10:48 CET (12 minutes before the incident opened)" in said
    assert "Verdict Suspected: not judged yet" in said
    assert f'<a href="/deploys/{latest["id"]}"><code>v1.4.2</code></a>' in panel
    assert (
        '<a href="https://ci.example.com/runs/77" rel="noopener noreferrer">Pipeline run 77</a>'
        in (panel)
    )
    assert buttons_in(panel) == ["Caused by this deploy", "Not related"]
    assert f'action="/incidents/{incident}/deploys/{latest["id"]}/confirm"' in panel
    # The live poll says what the panel shows, so a judgement made elsewhere redraws it.
    assert f"shown_deploys={latest['id']}%3Asuspected" in page


async def test_an_incident_after_no_deploy_shows_no_panel(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    await _report(world, version="v1.0.0", started_at=_at(300), finished_at=_at(290))
    incident = await world.fire()
    browser = await browser_for(world.alice)

    page = (await browser.get(f"/incidents/{incident}")).text

    panel = page[page.index('<section id="incident-deploy"') :].partition(">")[0]
    assert panel.endswith(" hidden")
    assert "Caused by this deploy" not in buttons_in(page)
    assert "shown_deploys" not in page


async def test_caused_by_this_deploy_then_not_related_from_the_page(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    _, latest = await _two_deploys(world)
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = f"/incidents/{incident}"

    confirmed = await browser.submit(page, f"{page}/deploys/{latest['id']}/confirm")

    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == page
    verdict = await _verdict(world, latest["id"])
    assert verdict["verdict"] == "failed" and verdict["failed_change"] is True
    link = await _link(world, incident)
    assert link["verdict"] == "confirmed" and link["judged_by_id"] == world.alice.id
    [event] = await world.timeline(incident, "deploy_confirmed")
    assert event["channel"] == "web" and event["actor_user_id"] == world.alice.id
    shown = (await browser.get(page)).text
    panel = _section(shown, "incident-deploy")
    assert "Verdict Caused by this deploy by Alice, Mon 2 Mar 11:00 CET" in _words(panel)
    assert buttons_in(panel) == ["Not related"]

    rejected = await browser.submit(page, f"{page}/deploys/{latest['id']}/reject")

    assert rejected.status_code == 303
    assert (await _verdict(world, latest["id"]))["verdict"] == "clean"
    assert (await _link(world, incident))["verdict"] == "rejected"
    [event] = await world.timeline(incident, "deploy_rejected")
    assert event["channel"] == "web"
    panel = _section((await browser.get(page)).text, "incident-deploy")
    assert "Verdict Not related by Alice" in _words(panel)
    assert buttons_in(panel) == ["Caused by this deploy"]


async def test_judging_with_htmx_redraws_the_incident_and_says_so(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    _, latest = await _two_deploys(world)
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = (await browser.get(f"/incidents/{incident}")).text

    response = await browser.http.post(
        f"/incidents/{incident}/deploys/{latest['id']}/reject", headers=htmx(page)
    )

    assert response.status_code == 200
    assert response.text.startswith('<div id="incident">')
    assert "Marked as not related to the deploy." in response.text
    assert buttons_in(_section(response.text, "incident-deploy")) == ["Caused by this deploy"]
    assert (await _link(world, incident))["verdict"] == "rejected"


async def test_a_judgement_made_elsewhere_redraws_the_panel_on_the_next_poll(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    _, latest = await _two_deploys(world)
    incident = await world.fire()
    browser = await browser_for(world.alice)
    live = f"/incidents/{incident}/live?shown_state=triggered&shown_urgency=high"
    shown = f"&shown_deploys={latest['id']}:suspected"

    unchanged = await browser.get(live + shown, headers={"HX-Request": "true"})
    assert 'id="incident-deploy"' not in unchanged.text

    await api(
        world.client,
        world.bob,
        "POST",
        f"/api/v1/incidents/{incident}/deploys/{latest['id']}/confirm",
    )
    changed = await browser.get(live + shown, headers={"HX-Request": "true"})

    panel = _section(changed.text, "incident-deploy")
    assert 'hx-swap-oob="true"' in panel.partition(">")[0]
    assert "Caused by this deploy by Bob" in _words(panel)


async def test_a_judgement_without_its_csrf_token_is_refused(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    _, latest = await _two_deploys(world)
    incident = await world.fire()
    browser = await browser_for(world.alice)
    action = f"/incidents/{incident}/deploys/{latest['id']}/confirm"

    missing = await browser.http.post(action)
    wrong = await browser.http.post(action, data={"csrf_token": "0" * 64})

    for refused in (missing, wrong):
        assert refused.status_code == 403
        assert "did not come from a Baton page" in refused.text
    assert (await _link(world, incident))["verdict"] == "suspected"


async def test_a_viewer_and_an_outsider_cannot_judge(world: PaymentsWorld, sign_in: SignIn) -> None:
    _, latest = await _two_deploys(world)
    incident = await world.fire()
    page = f"/incidents/{incident}"
    action = f"{page}/deploys/{latest['id']}/confirm"
    viewer, _ = await sign_in(Role.VIEWER)
    outsider, outsider_actor = await sign_in(Role.MEMBER)

    for browser in (viewer, outsider):
        shown = (await browser.get(page)).text
        # They see the deploy, and no buttons for it.
        assert "Opened 12 minutes after deploy v1.4.2" in _words(shown)
        assert buttons_in(_section(shown, "incident-deploy")) == []

    by_viewer = await viewer.submit(page, action)
    by_outsider = await outsider.submit(page, action)
    from_api = await world.client.post(
        f"/api/v1/incidents/{incident}/deploys/{latest['id']}/confirm",
        headers=outsider_actor.headers,
    )

    assert by_viewer.status_code == 403
    assert "viewers can look but not change anything" in by_viewer.text
    assert by_outsider.status_code == from_api.status_code == 403
    assert from_api.json()["detail"] in html.unescape(by_outsider.text)
    assert (await _link(world, incident))["verdict"] == "suspected"


async def test_judging_a_deploy_the_incident_did_not_follow_is_refused(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    earlier, _ = await _two_deploys(world)
    incident = await world.fire()
    browser = await browser_for(world.alice)
    page = f"/incidents/{incident}"

    refused = await browser.submit(page, f"{page}/deploys/{earlier['id']}/confirm")

    assert refused.status_code == 409
    assert f"deploy {earlier['id']} is not the deploy this incident followed" in html.unescape(
        refused.text
    )
    assert (await _verdict(world, earlier["id"]))["verdict"] == "clean"


# ----------------------------------------------------------------------- the service page


async def test_the_service_page_lists_recent_deploys_with_their_verdicts(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    earlier, latest = await _two_deploys(world)
    failed = await _report(
        world,
        version="v1.4.2-rc1",
        environment="staging",
        status="failed",
        started_at=_at(40),
        finished_at=_at(39),
    )
    await world.fire()  # after v1.4.2: it is suspect now
    browser = await browser_for(world.alice)

    page = (await browser.get(f"/services/{world.service['id']}")).text

    section = _section(page, "service-deploys")
    rows = re.findall(r'<tr data-deployment-id="(\d+)">(.*?)</tr>', section, re.S)
    assert [int(i) for i, _ in rows] == [latest["id"], failed["id"], earlier["id"]]
    cells = [_words(row) for _, row in rows]
    assert cells == [
        "v1.4.2 0123456 production Succeeded dina Mon 2 Mar 10:45 CET Mon 2 Mar 10:48 CET Suspect",
        "v1.4.2-rc1 staging Failed — Mon 2 Mar 10:20 CET Mon 2 Mar 10:21 CET Failed",
        "v1.4.1 production Succeeded dina Mon 2 Mar 08:55 CET Mon 2 Mar 09:00 CET Clean",
    ]
    assert f'<a href="/deploys/{latest["id"]}"><code>v1.4.2</code></a>' in section
    assert f'<a href="{REPO}/commit/{SHA}"' in section
    assert f'<a href="/deploys?service_id={world.service["id"]}">' in section
    assert _words(_section_dl(section, "deploy-watch")) == (
        "Deploy watch while a deploy runs and 30 minutes after it finished: an incident that "
        "opens then names the deploy on its pages Environments watched every environment "
        "Who deployed told for information (an FYI on their own rules, not a page)"
    )


async def test_the_service_page_says_the_watch_settings_of_the_service(
    world: PaymentsWorld, browser_for: BrowserFor, factory: Factory
) -> None:
    async with factory.db.transaction() as session:
        service = await session.get(Service, world.service["id"])
        assert service is not None
        service.deploy_watch_minutes = 0
        service.deployer_notice = "page"  # type: ignore[assignment]
        service.deploy_watch_environments = ["production", "eu-west"]
    browser = await browser_for(world.alice)

    page = (await browser.get(f"/services/{world.service['id']}")).text

    section = _section(page, "service-deploys")
    assert _words(_section_dl(section, "deploy-watch")) == (
        "Deploy watch while a deploy runs: an incident that opens then names the deploy on its "
        "pages Environments watched production, eu-west Who deployed paged, as a responder"
    )
    assert "No deploys reported yet." in section


# ------------------------------------------------------------------------- the deploy list


async def test_the_list_shows_every_deploy_newest_first_with_its_verdict(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    earlier, latest = await _two_deploys(world)
    await world.fire()
    browser = await browser_for(world.alice)

    response = await browser.get("/deploys")

    assert response.status_code == 200
    page = response.text
    assert '<a href="/deploys" aria-current="page">Deploys</a>' in page
    rows = re.findall(r'<tr data-deployment-id="(\d+)">(.*?)</tr>', page, re.S)
    assert [int(i) for i, _ in rows] == [latest["id"], earlier["id"]]
    assert _words(rows[0][1]) == (
        "v1.4.2 0123456 payments-api production Succeeded dina "
        "Mon 2 Mar 10:45 CET Mon 2 Mar 10:48 CET Suspect"
    )
    assert _words(rows[1][1]).endswith("Clean")


async def test_filters_narrow_the_list_and_stay_in_the_address(
    world: PaymentsWorld, browser_for: BrowserFor, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    earlier, latest = await _two_deploys(world)
    staging = await _report(world, version="v2-rc", environment="staging", started_at=_at(60))
    yesterday = await _report(
        world, version="v1.3.0", started_at=(DEFAULT_NOW - timedelta(days=1)).isoformat()
    )
    other_team = await api(
        client, world.admin, "POST", "/api/v1/teams", json={"name": "web", "kind": "dev"}
    )
    shop = await api(
        client,
        world.admin,
        "POST",
        "/api/v1/services",
        json={"name": "shop-frontend", "team_id": other_team["id"]},
    )
    elsewhere = await _report(world, service="shop-frontend", version="f-9", started_at=_at(30))
    browser = await browser_for(world.alice)

    async def listed(query: str) -> list[int]:
        response = await browser.get(f"/deploys?{query}")
        assert response.status_code == 200, response.text
        return [int(i) for i in re.findall(r'<tr data-deployment-id="(\d+)">', response.text)]

    everything = await listed("")
    assert everything == [
        elsewhere["id"],
        yesterday["id"],
        staging["id"],
        latest["id"],
        earlier["id"],
    ]
    assert await listed(f"service_id={shop['id']}") == [elsewhere["id"]]
    assert await listed(f"team_id={world.team['id']}") == [
        yesterday["id"],
        staging["id"],
        latest["id"],
        earlier["id"],
    ]
    assert await listed("environment=staging") == [staging["id"]]
    assert await listed("status=started") == []
    # Days in Alice's zone, both included: 2 March is today, 1 March yesterday.
    assert await listed("since=2026-03-02") == [
        elsewhere["id"],
        staging["id"],
        latest["id"],
        earlier["id"],
    ]
    assert await listed("until=2026-03-01") == [yesterday["id"]]
    assert await listed("since=2026-03-01&until=2026-03-01") == [yesterday["id"]]
    filtered = (await browser.get(f"/deploys?environment=staging&team_id={world.team['id']}")).text
    assert '<details class="incident-filters" open>' in filtered
    assert 'value="staging"' in filtered
    assert f'<option value="{world.team["id"]}" selected>sre</option>' in filtered
    assert "Filters: team sre, staging" in _words(filtered)
    assert "No deploy matches these filters." in (await browser.get("/deploys?environment=qa")).text


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("service_id=abc", "service_id must be a service's id"),
        ("status=exploded", "status must be one of started, succeeded, failed, rolled_back"),
        ("since=yesterday", "since must be a day (YYYY-MM-DD)"),
        ("since=2026-03-02&until=2026-03-01", "until is before since"),
        ("cursor=nonsense", "cursor is not one this API returned"),
    ],
)
async def test_a_wrong_filter_is_a_422_page_saying_why(
    world: PaymentsWorld, browser_for: BrowserFor, query: str, says: str
) -> None:
    browser = await browser_for(world.alice)

    response = await browser.get(f"/deploys?{query}")

    assert response.status_code == 422  # the API's status for the same mistakes
    assert response.headers["content-type"].startswith("text/html")
    assert says in html.unescape(response.text)


async def test_the_list_comes_in_pages_and_keeps_its_filters(
    world: PaymentsWorld, browser_for: BrowserFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deploy_pages, "PAGE_SIZE", 2)
    made = [
        (await _report(world, version=f"v{n}", started_at=_at(100 - n)))["id"] for n in range(5)
    ]
    browser = await browser_for(world.alice)

    first = (await browser.get("/deploys?environment=production")).text
    older = re.search(r'<a href="/deploys\?([^"]+)">Older deploys</a>', first)
    assert older is not None
    second = (await browser.get("/deploys?" + html.unescape(older[1]))).text
    last_link = re.search(r'<a href="/deploys\?([^"]+)">Older deploys</a>', second)
    assert last_link is not None
    last = (await browser.get("/deploys?" + html.unescape(last_link[1]))).text

    pages = [re.findall(r'<tr data-deployment-id="(\d+)">', p) for p in (first, second, last)]
    assert [[int(i) for i in p] for p in pages] == [
        [made[4], made[3]],
        [made[2], made[1]],
        [made[0]],
    ]
    assert "environment=production" in older[1]
    assert "Older deploys" not in last
    assert '<a href="/deploys?environment=production">Newest deploys</a>' in last


# ------------------------------------------------------------------------------ one deploy


async def test_the_deploy_page_shows_its_verdict_watch_incidents_and_commit(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    _, latest = await _two_deploys(world)
    incident = await world.fire("card authorisations failing")
    browser = await browser_for(world.alice)
    await browser.submit(
        f"/incidents/{incident}", f"/incidents/{incident}/deploys/{latest['id']}/confirm"
    )

    response = await browser.get(f"/deploys/{latest['id']}")

    assert response.status_code == 200
    page = response.text
    said = _words(page)
    assert "payments-api v1.4.2" in said
    assert "Faster card authorisations" in said
    assert "Failed a responder confirmed it caused an incident: a failed change." in said
    # Finished 09:48 UTC, watched 30 minutes after: until 10:18 UTC, 11:18 in Berlin.
    assert "Watch watching until Mon 2 Mar 11:18 CET" in said
    assert "Service restored not yet" in said
    assert "Previous version v1.4.1" in said
    assert "Deployed by dina" in said
    assert f'<a href="{REPO}/commit/{SHA}" rel="noopener noreferrer"><code>{SHA}</code></a>' in page
    assert f'<a href="{REPO}" rel="noopener noreferrer">{REPO}</a>' in page
    assert "Reported by api (its id: run-77)" in said
    assert (
        '<a href="https://ci.example.com/runs/77" rel="noopener noreferrer">Pipeline run 77</a>'
        in page
    )
    incidents = _section(page, "deploy-incidents")
    assert f'<a href="/incidents/{incident}">card authorisations failing</a>' in incidents
    assert "12 min Caused by this deploy by Alice, Mon 2 Mar 11:00 CET" in _words(incidents)


async def test_a_clean_deploy_out_of_its_watch(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    earlier, _ = await _two_deploys(world)
    browser = await browser_for(world.alice)

    said = _words((await browser.get(f"/deploys/{earlier['id']}")).text)

    assert "Clean no incident opened in its watch." in said
    assert "Watch ended Mon 2 Mar 09:30 CET" in said
    assert "Incidents in its watch None." in said
    assert "Commit not said" in said
    assert "Service restored" not in said


async def test_an_unknown_deploy_is_a_404_page(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    browser = await browser_for(world.alice)

    response = await browser.get("/deploys/999999")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "deploy 999999 not found" in response.text
    assert "<h1" in response.text


# ---------------------------------------------------------------------------- hostile text

HOSTILE = '<img src=x onerror="alert(1)">'


async def test_what_a_sender_wrote_is_text_and_only_web_addresses_are_links(
    world: PaymentsWorld, browser_for: BrowserFor, db: Database, clock: ManualClock
) -> None:
    async with db.transaction() as session:
        service = await session.get(Service, world.service["id"])
        assert service is not None
        recorded = await deploys.record(
            session,
            service,
            DeployReport(
                version=f"v9{HOSTILE}",
                environment=f"prod{HOSTILE}",
                summary=f"<script>alert(2)</script>{HOSTILE}",
                deployer=f"mallory{HOSTILE}",
                commit_sha="abc1234",
                repository_url="javascript:alert(3)",
                started_at=clock.now() - timedelta(minutes=6),
                finished_at=clock.now() - timedelta(minutes=5),
                links=(
                    {"href": "javascript:alert(4)", "text": "run <b>4</b>"},
                    {"href": "https://ci.example.com/ok", "text": HOSTILE},
                ),
                details={"note": HOSTILE},
            ),
            DeploySource.PAGERDUTY,
        )
        deployment_id = recorded.deployment.id
    incident = await world.fire()
    browser = await browser_for(world.alice)

    pages = {
        path: (await browser.get(path)).text
        for path in (
            f"/deploys/{deployment_id}",
            "/deploys",
            f"/services/{world.service['id']}",
            f"/incidents/{incident}",
        )
    }

    for path, page in pages.items():
        assert "<img" not in page, path
        assert "<script>alert" not in page, path
        assert 'href="javascript:' not in page, path
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page, path
    detail = pages[f"/deploys/{deployment_id}"]
    # The repository is no web address: neither it nor the commit is a link.
    assert "<code>abc1234</code>" in detail and "/commit/abc1234" not in detail
    assert "run &lt;b&gt;4&lt;/b&gt;" in detail
    assert (
        '<a href="https://ci.example.com/ok" rel="noopener noreferrer">'
        "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;</a>"
    ) in detail
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in detail
    assert "Opened 5 minutes after deploy v9" in _words(pages[f"/incidents/{incident}"])


def test_the_flags_give_the_verdicts_verdict_of_gives() -> None:
    """The tables read the verdict off the row's flags; the rule is the service's."""

    def row(status: DeployStatus, *, suspect: bool = False, caused: bool = False) -> Deployment:
        return Deployment(status=status, suspect=suspect, caused_incident=caused)

    assert verdict_of_row(row(DeployStatus.SUCCEEDED)).value == "clean"
    assert verdict_of_row(row(DeployStatus.STARTED, suspect=True)).value == "suspect"
    assert verdict_of_row(row(DeployStatus.SUCCEEDED, suspect=True, caused=True)).value == (
        "failed"
    )
    assert verdict_of_row(row(DeployStatus.ROLLED_BACK)).value == "failed"
    assert verdict_of_row(row(DeployStatus.FAILED)).value == "failed"
