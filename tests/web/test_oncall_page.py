"""The home page: who is on call now on every schedule, in the viewer's own time zone."""

from __future__ import annotations

import httpx

from app.core.auth import Role
from tests.factories import Factory
from tests.schedules.helpers import create_schedule, crew, weekly_layer
from tests.web.conftest import SignIn


async def test_the_home_page_shows_who_is_on_call_until_when(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    team = await crew(factory)
    alice = await factory.user(name="Alice Nguyen")
    bob = await factory.user(name="Bob Okafor")
    for person in (alice, bob):
        await factory.member(team.team_id, person.id)
    # Weekly hand-offs on Mondays 09:00 UTC from 5 January: Alice's week began on Monday
    # 2 March, and the clock stands at 10:00 UTC that day.
    await create_schedule(
        client,
        team.owner,
        team.team_id,
        name="Payments primary",
        time_zone="UTC",
        layers=[weekly_layer([alice.id, bob.id])],
    )
    browser, _ = await sign_in(Role.VIEWER, name="Vera Viewer", time_zone="Europe/Berlin")
    page = await browser.get("/")
    assert page.status_code == 200
    text = page.text
    assert "Vera Viewer" in text
    assert "Payments primary" in text
    row = text.partition("Payments primary")[2].partition("</tr>")[0]
    # Monday 9 March 09:00 UTC is 10:00 in Berlin, in winter time.
    assert "Mon 9 Mar 10:00 CET" in row
    assert "in 7 days" in row
    assert row.index("Alice Nguyen") < row.index("Mon 9 Mar") < row.index("Bob Okafor")


async def test_with_no_schedules_the_home_page_says_so(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    assert "No schedules yet." in (await browser.get("/")).text
