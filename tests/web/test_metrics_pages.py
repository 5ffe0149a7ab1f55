"""The service health page and the team and person load pages: the metrics API's figures for the
same window, as charts (the JSON block the chart script reads) and as tables, with a window
selector; unknown ids are the HTML 404 page, and what alerts said is text, never markup."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.people.models import ContactType
from app.web.routes.health import NO_VALUE
from tests.factories import Factory
from tests.paging import Engine, api
from tests.web import test_incidents as incident_pages
from tests.web.conftest import SignIn
from tests.web.test_incidents import BrowserFor
from tests.worlds import PaymentsWorld, build_payments_world

# The incident pages' fixture: a browser signed in as one of the world's people.
browser_for = incident_pages.browser_for

_CHARTS = re.compile(r'<script type="application/json" id="metrics-charts">(.*?)</script>', re.S)


def charts_in(page: str) -> dict[str, dict[str, Any]]:
    match = _CHARTS.search(page)
    assert match is not None, "the page has no chart data"
    return {spec["canvas"]: spec for spec in json.loads(match[1])}


def figure(page: str, name: str) -> str:
    match = re.search(rf'data-figure="{re.escape(name)}">(.*?)</dd>', page, re.S)
    assert match is not None, f"no figure {name}"
    return html.unescape(re.sub(r"<[^>]+>", "", match[1])).strip()


def cells(page: str, marker: str) -> list[str]:
    row = page.partition(marker)[2].partition("</tr>")[0]
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
    ]


def table_rows(page: str, table_id: str) -> list[list[str]]:
    table = page.partition(f'<table id="{table_id}">')[2].partition("</table>")[0]
    body = table.partition("<tbody>")[2]
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def series_values(spec: dict[str, Any], label: str) -> list[Any]:
    [values] = [s["values"] for s in spec["series"] if s["label"] == label]
    return values


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> PaymentsWorld:
    return await build_payments_world(client, factory, time_zone="UTC")


async def _handled(
    world: PaymentsWorld, clock: ManualClock, summary: str, ack_after: int, resolve_after: int
) -> int:
    """An incident Alice acknowledges and resolves so many minutes after it opened."""
    incident = await world.fire(summary)
    clock.advance(timedelta(minutes=ack_after))
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident}/acknowledge")
    clock.advance(timedelta(minutes=resolve_after - ack_after))
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident}/resolve")
    return incident


async def _api_report(
    client: httpx.AsyncClient, world: PaymentsWorld, path: str, since: datetime, until: datetime
) -> dict[str, Any]:
    return await api(
        client,
        world.admin,
        "GET",
        f"/api/v1/metrics/{path}",
        params={"since": since.isoformat(), "until": until.isoformat()},
    )


async def test_service_health_shows_the_metrics_apis_figures_for_the_window(
    world: PaymentsWorld,
    clock: ManualClock,
    sign_in: SignIn,
    client: httpx.AsyncClient,
) -> None:
    await _handled(world, clock, "p99 latency above 2s", ack_after=3, resolve_after=10)
    clock.advance(timedelta(hours=1))
    await _handled(world, clock, "disk almost full", ack_after=5, resolve_after=20)
    browser, _ = await sign_in(Role.VIEWER)
    service_id = world.service["id"]

    page = await browser.get(f"/services/{service_id}/health", params={"days": "7"})

    assert page.status_code == 200, page.text
    text = page.text
    # By hand: acknowledged after 3 and 5 minutes, resolved after 10 and 20.
    assert figure(text, "incidents") == "2"
    assert figure(text, "mtta") == "4 min"
    assert figure(text, "mttr") == "15 min"
    assert figure(text, "escalation-rate") == "0%"
    assert figure(text, "flapping") == "0"
    # Opened at 10:00 and 11:10 UTC on a Monday (the team's zone is UTC): business hours.
    assert figure(text, "out-of-hours") == "0%"
    assert cells(text, 'data-measure="mtta"') == ["MTTA", "4 min", "5 min", "4 min", "2"]
    assert cells(text, 'data-measure="mttr"') == ["MTTR", "15 min", "20 min", "15 min", "2"]

    now = clock.now()
    report = await _api_report(
        client, world, f"services/{service_id}", now - timedelta(days=7), now
    )
    assert report["incidents"]["incidents"] == 2
    assert report["incidents"]["mtta"]["median"] == 240
    charts = charts_in(text)
    per_day = charts["service-per-day-chart"]
    assert series_values(per_day, "Incidents") == [
        float(p["incidents"]) for p in report["series"]["per_day"]
    ]
    assert sum(series_values(per_day, "Incidents")) == 2
    per_week = charts["service-per-week-chart"]
    assert series_values(per_week, "MTTA (median)") == [
        None if w["mtta_median"] is None else round(w["mtta_median"] / 60, 1)
        for w in report["series"]["per_week"]
    ]
    assert 4.0 in series_values(per_week, "MTTA (median)")
    assert 15.0 in series_values(per_week, "MTTR (median)")
    # DORA: no deploys, so no band; the report it cites is named with its year.
    assert "Deployment frequency" in text
    assert f"({report['dora']['report_year']})" in text
    # The page loads the vendored Chart.js and its own script, nothing inline.
    assert "/static/vendor/chart.js/chart.umd.min.js?v=" in text
    assert "/static/metrics_charts.js?v=" in text
    assert "<script>" not in text


async def test_the_window_selector_chooses_7_30_or_90_days(
    world: PaymentsWorld, clock: ManualClock, sign_in: SignIn
) -> None:
    await _handled(world, clock, "p99 latency above 2s", ack_after=1, resolve_after=2)
    clock.advance(timedelta(days=8))
    browser, _ = await sign_in(Role.MEMBER)
    path = f"/services/{world.service['id']}/health"

    week = (await browser.get(path, params={"days": "7"})).text
    month = (await browser.get(path)).text  # 30 days unless asked

    assert figure(week, "incidents") == "0"
    assert figure(month, "incidents") == "1"
    assert len(charts_in(week)["service-per-day-chart"]["labels"]) == 8  # partial days included
    assert '<strong aria-current="page">Last 30 days</strong>' in month
    assert f'<a href="{path}?days=90">Last 90 days</a>' in month
    for wrong in ("14", "abc", "-7"):
        refused = await browser.get(path, params={"days": wrong})
        assert refused.status_code == 422, wrong
        assert refused.headers["content-type"].startswith("text/html")
        assert "days must be one of 7, 30, 90" in refused.text


async def test_unknown_ids_are_the_html_404_page(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    for path in ("/services/987654/health", "/teams/987654/load", "/people/987654/load"):
        response = await browser.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "<h1" in response.text


async def test_what_an_alert_said_is_text_on_the_health_page(
    world: PaymentsWorld, clock: ManualClock, sign_in: SignIn
) -> None:
    await world.fire("<script>alert(1)</script>", dedup_key='<img src=x onerror="alert(2)">')
    clock.advance(timedelta(minutes=1))  # the window ends now, and leaves its end out
    browser, _ = await sign_in(Role.VIEWER)

    page = (await browser.get(f"/services/{world.service['id']}/health")).text

    assert "<script>alert" not in page and "<img src=x" not in page
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page


async def test_the_service_page_links_to_its_health(
    world: PaymentsWorld, browser_for: BrowserFor
) -> None:
    browser = await browser_for(world.alice)
    page = (await browser.get(f"/services/{world.service['id']}")).text
    assert f'<a href="/services/{world.service["id"]}/health" id="service-health-link">' in page


async def _paged_alice(
    app: FastAPI, db: Database, clock: ManualClock, factory: Factory, world: PaymentsWorld
) -> list[int]:
    """Alice is paged by e-mail at 10:00 UTC on a Monday (business hours) and at 23:00 (night),
    and acknowledges each after 2 minutes."""
    engine = Engine(app, db, clock)
    method = await factory.contact_method(world.alice.id, ContactType.EMAIL, "alice@example.com")
    await api(
        world.client,
        world.admin,
        "POST",
        f"/api/v1/users/{world.alice.id}/notification-rules",
        json={"contact_method_id": method.id, "delay_minutes": 0, "urgency": "high"},
    )
    incidents = []
    for summary, wait in (
        ("p99 latency above 2s", timedelta(0)),
        ("disk full", timedelta(hours=13)),
    ):
        clock.advance(wait)
        incident = await world.fire(summary)
        await engine.drain()
        clock.advance(timedelta(minutes=2))
        await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident}/acknowledge")
        await engine.drain()
        incidents.append(incident)
    return incidents


async def test_person_load_splits_interruptions_by_the_hour_of_their_day(
    app: FastAPI,
    db: Database,
    clock: ManualClock,
    factory: Factory,
    world: PaymentsWorld,
    sign_in: SignIn,
    client: httpx.AsyncClient,
) -> None:
    await _paged_alice(app, db, clock, factory, world)
    browser, _ = await sign_in(Role.VIEWER)

    page = await browser.get(f"/people/{world.alice.id}/load", params={"days": "7"})

    assert page.status_code == 200, page.text
    text = page.text
    now = clock.now()
    report = await _api_report(
        client, world, f"people/{world.alice.id}", now - timedelta(days=7), now
    )
    load = report["load"]
    assert load["interruptions"] == 2 and load["business"] == 1 and load["night"] == 1
    assert figure(text, "interruptions") == "2"
    assert figure(text, "business") == "1"
    assert figure(text, "night") == "1"
    assert figure(text, "evening") == figure(text, "weekend") == "0"
    assert figure(text, "pages") == str(load["pages"]) == "2"
    assert table_rows(text, "person-channels") == [["email", "2"]]
    charts = charts_in(text)
    assert charts["person-channels-chart"]["labels"] == ["email"]
    assert series_values(charts["person-split-chart"], "Interruptions") == [1.0, 0.0, 1.0, 0.0]
    # Nobody's schedule has Alice: no shifts, so no pages per shift, and no time on call.
    assert figure(text, "pages-per-shift") == NO_VALUE
    assert figure(text, "on-call-share") == "0%"
    assert figure(text, "mtta") == "2 min"


async def test_team_load_lists_each_person_and_the_teams_incidents(
    app: FastAPI,
    db: Database,
    clock: ManualClock,
    factory: Factory,
    world: PaymentsWorld,
    sign_in: SignIn,
    client: httpx.AsyncClient,
) -> None:
    await _paged_alice(app, db, clock, factory, world)
    browser, _ = await sign_in(Role.MEMBER)
    team_id = world.team["id"]

    page = await browser.get(f"/teams/{team_id}/load", params={"days": "30"})

    assert page.status_code == 200, page.text
    text = page.text
    now = clock.now()
    report = await _api_report(client, world, f"teams/{team_id}", now - timedelta(days=30), now)
    assert figure(text, "interruptions") == str(report["load"]["interruptions"]) == "2"
    assert figure(text, "incidents") == "2"
    # Alice's row: interruptions, then business hours, evenings, nights, weekends.
    assert cells(text, f'data-user-id="{world.alice.id}"')[:7] == [
        "Alice",
        "Ops",
        "2",
        "1",
        "0",
        "1",
        "0",
    ]
    assert cells(text, f'data-user-id="{world.bob.id}"')[2] == "0"
    # The team is all Ops: every page is Ops'.
    assert figure(text, "ops-pages") == "100%"
    assert figure(text, "dev-pages") == "0%"
    charts = charts_in(text)
    split = charts["team-split-chart"]
    assert split["labels"] == ["Alice", "Bob"]
    assert series_values(split, "Nights (sleep hours)") == [1.0, 0.0]
    assert charts["team-channels-chart"]["labels"] == ["email"]
    assert f'<a href="/services/{world.service["id"]}/health?days=30">payments-api</a>' in text
    assert f'<a href="/people/{world.alice.id}/load?days=30">Alice</a>' in text
    # The team's page links here.
    team_page = (await browser.get(f"/teams/{team_id}")).text
    assert f'<a href="/teams/{team_id}/load" id="team-load-link">' in team_page
