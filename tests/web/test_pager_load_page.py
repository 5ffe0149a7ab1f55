"""The pager-load page: the API's load report per person and per team, as charts and tables."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from app.core.auth import Role
from app.people.models import TeamKind
from tests.factories import Factory
from tests.schedules.helpers import create_schedule, crew, weekly_layer
from tests.web.conftest import SignIn

_DATA = re.compile(r'<script type="application/json" id="pager-load-data">(.*?)</script>', re.S)


def chart_data(page: str) -> dict[str, Any]:
    match = _DATA.search(page)
    assert match is not None, "the page has no chart data"
    return json.loads(match[1])


def _row(page: str, marker: str) -> list[str]:
    row = page.partition(marker)[2].partition("</tr>")[0]
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
    ]


async def _two_teams(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    ops = await crew(factory, kind=TeamKind.OPS)
    dev = await crew(factory, kind=TeamKind.DEV)
    olga = await factory.user(name="Olga Ops", time_zone="Europe/Berlin")
    omar = await factory.user(name="Omar Ops", time_zone="America/New_York")
    dina = await factory.user(name="Dina Dev", time_zone="Asia/Tokyo")
    for person in (olga, omar):
        await factory.member(ops.team_id, person.id)
    await factory.member(dev.team_id, dina.id)
    await create_schedule(
        client,
        ops.owner,
        ops.team_id,
        name="Ops primary",
        time_zone="UTC",
        layers=[weekly_layer([olga.id, omar.id])],
    )
    await create_schedule(
        client,
        dev.owner,
        dev.team_id,
        name="Dev primary",
        time_zone="UTC",
        layers=[
            weekly_layer(
                [dina.id],
                name="days",
                start="2026-01-05T00:00:00Z",
                shift_length=1,
                shift_unit="days",
            )
        ],
    )
    return {"ops": ops, "dev": dev, "people": (olga, omar, dina)}


async def test_the_figures_are_the_apis_load_report_for_the_same_window(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    world = await _two_teams(client, factory)
    browser, viewer = await sign_in(Role.VIEWER, time_zone="Europe/Berlin")
    page = await browser.get("/pager-load", params={"from": "2026-02-01", "to": "2026-02-28"})
    assert page.status_code == 200, page.text
    # The days are the viewer's: 1 February 00:00 to 1 March 00:00 in Berlin.
    start = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)
    end = datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    headers = {"Authorization": f"Bearer {viewer.token}"}
    window = {"start": start.isoformat(), "end": end.isoformat()}
    report = (await client.get("/api/v1/oncall/load", headers=headers, params=window)).json()
    data = chart_data(page.text)

    people = sorted(report["people"], key=lambda p: p["name"].lower())
    assert (
        data["people"]["labels"]
        == [p["name"] for p in people]
        == ["Dina Dev", "Olga Ops", "Omar Ops"]
    )
    series = {s["key"]: s["values"] for s in data["people"]["series"]}
    for key in ("business_hours", "evening_hours", "night_hours", "weekend_hours"):
        assert series[key] == [p[key] for p in people]
    assert data["share"]["values"] == [
        report["dev_share"],
        report["ops_share"],
        report["mixed_share"],
    ]
    # Both schedules run around the clock: half the hours are Dev's, half Ops'.
    assert report["dev_share"] == report["ops_share"] == 0.5

    for person in people:
        cells = _row(page.text, f'data-user-id="{person["user_id"]}"')
        assert cells == [
            person["name"],
            person["time_zone"],
            person["kind"].capitalize(),
            *(
                f"{person[k]:.1f}"
                for k in ("business_hours", "evening_hours", "night_hours", "weekend_hours")
            ),
            f"{person['total_hours']:.1f}",
            f"{person['shadow_hours']:.1f}",
        ]

    for name in ("ops", "dev"):
        team_id = world[name].team_id
        team_report = (
            await client.get(
                "/api/v1/oncall/load", headers=headers, params={**window, "team_id": team_id}
            )
        ).json()
        cells = _row(page.text, f'data-team-id="{team_id}"')
        sums = [
            sum(p[k] for p in team_report["people"])
            for k in ("business_hours", "evening_hours", "night_hours", "weekend_hours")
        ]
        assert cells[2:7] == [*(f"{v:.1f}" for v in sums), f"{team_report['total_hours']:.1f}"]
        assert cells[7] == f"{team_report['dev_share'] * 100:.0f}%"
    # Ops' 28 days are all Ops hours; Dev's are all Dev hours.
    assert _row(page.text, f'data-team-id="{world["ops"].team_id}"')[7:] == ["0%", "100%"]
    assert _row(page.text, f'data-team-id="{world["dev"].team_id}"')[7:] == ["100%", "0%"]


async def test_by_default_the_window_is_the_last_thirty_days(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    await _two_teams(client, factory)
    browser, viewer = await sign_in(Role.MEMBER)
    page = await browser.get("/pager-load")
    assert page.status_code == 200
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    report = (
        await client.get(
            "/api/v1/oncall/load",
            headers={"Authorization": f"Bearer {viewer.token}"},
            params={"start": "2026-01-31T10:00:00+00:00", "end": now.isoformat()},
        )
    ).json()
    data = chart_data(page.text)
    assert data["share"]["values"] == [
        report["dev_share"],
        report["ops_share"],
        report["mixed_share"],
    ]
    totals = [
        sum(values) for values in zip(*(s["values"] for s in data["people"]["series"]), strict=True)
    ]
    assert totals == [
        p["total_hours"] for p in sorted(report["people"], key=lambda p: p["name"].lower())
    ]
    assert 'value="2026-01-31"' in page.text
    assert 'value="2026-03-02"' in page.text


async def test_the_page_charts_with_its_own_script_and_no_inline_code(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    await _two_teams(client, factory)
    browser, _ = await sign_in(Role.VIEWER)
    page = await browser.get("/pager-load")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert any("vendor/chart.js/chart.umd.min.js" in attrs for attrs, _ in scripts)
    assert any("pager_load.js" in attrs for attrs, _ in scripts)
    inline = [
        body for attrs, body in scripts if body.strip() and 'type="application/json"' not in attrs
    ]
    assert inline == []
    assert (
        await browser.get(re.search(r'src="(/static/pager_load\.js[^"]*)"', page.text)[1])
    ).status_code == 200
    for table in ("people-load", "team-load"):
        assert f'<table id="{table}">' in page.text
    assert '<th scope="col">Nights</th>' in page.text


async def test_a_window_the_api_refuses_is_refused_with_its_message(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.VIEWER)
    page = await browser.get("/pager-load", params={"from": "2026-03-01", "to": "2026-02-01"})
    assert page.status_code == 422
    assert "end must be after start" in page.text
    page = await browser.get("/pager-load", params={"from": "yesterday"})
    assert page.status_code == 422
    assert "a day like 2026-03-01" in page.text
