"""My on-call (``/me``): my shifts in my zone, cover requests, my notification ladder, the
test page and my calendar link; every write acts on the signed-in person only."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from app.core.auth import Role
from app.people.models import ContactType
from tests.conftest import PUBLIC_URL
from tests.factories import Actor, Factory
from tests.schedules.helpers import create_schedule, crew, iso, utc, weekly_layer
from tests.web.browser import Browser
from tests.web.conftest import SignIn

DASH = "\N{EN DASH}"  # between the hours of a day's shift in the calendar


def _text(page: str) -> str:
    """The page's words, tags dropped and spaces squeezed, as a reader sees them."""
    words = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
    return re.sub(r" ([:,.])", r"\1", words)


def _section(page: str, section_id: str) -> str:
    start = page.index(f'<section id="{section_id}"')
    return page[start : page.index("</section>", start)]


async def _rules(client: httpx.AsyncClient, actor: Actor) -> list[dict[str, object]]:
    response = await client.get(
        f"/api/v1/users/{actor.id}/notification-rules", headers=actor.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _on_weekly_rota(
    factory: Factory, client: httpx.AsyncClient, *people: int, name: str = "Payments primary"
) -> dict[str, object]:
    """Weekly hand-offs on Mondays 09:00 UTC from 5 January, in the order given: the clock
    (Monday 2 March 10:00 UTC) is in the first person's week."""
    team = await crew(factory)
    for person in people:
        await factory.member(team.team_id, person)
    return await create_schedule(
        client,
        team.owner,
        team.team_id,
        name=name,
        time_zone="UTC",
        layers=[weekly_layer(list(people))],
    )


# ------------------------------------------------------------------------------- shifts


async def test_my_shifts_in_the_next_four_weeks_are_listed_in_my_zone(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER, name="Alice Nguyen", time_zone="Europe/Berlin")
    bob = await factory.user(name="Bob Okafor")
    await _on_weekly_rota(factory, client, me.id, bob.id)

    page = await browser.get("/me")
    assert page.status_code == 200
    shifts = _text(_section(page.text, "my-shifts"))
    # Now until Monday 9 March 09:00 UTC (10:00 in Berlin), then every other week; on Sunday
    # 29 March Berlin moves to summer time, so the 09:00 UTC hand-off is 11:00 CEST.
    assert "Payments primary now Mon 9 Mar 10:00 CET responder" in shifts
    assert "Payments primary Mon 16 Mar 10:00 CET (in 14 days) Mon 23 Mar 10:00 CET" in shifts
    assert "Mon 30 Mar 11:00 CEST" in shifts
    assert "Bob Okafor" not in shifts
    # Bob's weeks are not mine.
    assert "Mon 9 Mar 10:00 CET (in 7 days)" not in shifts


async def test_the_month_calendar_shows_my_days_in_my_zone(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER, time_zone="America/New_York")
    bob = await factory.user()
    await _on_weekly_rota(factory, client, me.id, bob.id)

    calendar = (await browser.get("/me")).text
    table = calendar[calendar.index('<table class="me-calendar">') :]
    table = table[: table.index("</table>")]
    assert "March 2026: my shifts (times in America/New_York)" in table
    assert '<th scope="col" abbr="Monday">Mon</th>' in table
    # 09:00 UTC on Monday 2 March is 04:00 in New York (EST); my week ends there on the 9th at
    # 05:00 (EDT since Sunday 8 March).
    today = table[table.index('aria-current="date">') + len('aria-current="date">') :]
    assert _text(today[: today.index("</td>")]).split() == [
        "2",
        "Payments",
        "primary",
        f"04:00{DASH}24:00",
    ]
    cells = {
        _text(cell).split()[0]: _text(cell)
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", table, re.S)
    }
    assert "all day" in cells["5"]
    assert cells["9"].endswith(f"Payments primary 00:00{DASH}05:00 ")
    assert "Payments" not in cells["12"]  # Bob's week
    assert f"Payments primary 05:00{DASH}24:00" in cells["16"]

    february = (await browser.get("/me?month=2026-02")).text
    assert "February 2026: my shifts" in february
    assert 'href="/me?month=2026-01#calendar"' in february
    # A month too far away, or no month at all, is this month.
    assert "March 2026: my shifts" in (await browser.get("/me?month=2099-01")).text
    assert "March 2026: my shifts" in (await browser.get("/me?month=nonsense")).text


async def test_with_no_shifts_the_page_says_so(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    page = (await browser.get("/me")).text
    assert "You have no shifts in the next four weeks." in page
    assert "Nobody is asking you for cover." in page


# ------------------------------------------------------------------------ cover requests


async def test_a_cover_request_to_me_can_be_accepted_and_mine_cancelled(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER, time_zone="UTC")
    bob = await factory.actor(Role.MEMBER, name="Bob Okafor")
    schedule = await _on_weekly_rota(factory, client, me.id, bob.id)
    # Bob's week is 9 to 16 March; he asks for Tuesday 10 March.
    asked = await client.post(
        f"/api/v1/schedules/{schedule['id']}/cover-requests",
        headers=bob.headers,
        json={
            "start": iso(utc(2026, 3, 10, 9)),
            "end": iso(utc(2026, 3, 11, 9)),
            "message": "dentist",
        },
    )
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    mine = await client.post(
        f"/api/v1/schedules/{schedule['id']}/cover-requests",
        headers=me.headers,
        json={"start": iso(utc(2026, 3, 3, 9)), "end": iso(utc(2026, 3, 4, 9))},
    )
    assert mine.status_code == 201, mine.text

    covers = _text(_section((await browser.get("/me")).text, "cover-requests"))
    assert "Bob Okafor asks for cover on Payments primary from Tue 10 Mar 09:00 UTC" in covers
    assert "“dentist”" in covers
    assert "Payments primary from Tue 3 Mar 09:00 UTC to Wed 4 Mar 09:00 UTC: open" in covers

    accepted = await browser.submit("/me", f"/me/cover-requests/{request_id}/accept")
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/me#cover-requests"
    state = await client.get(f"/api/v1/cover-requests/{request_id}", headers=me.headers)
    assert state.json()["state"] == "accepted"
    assert state.json()["accepted_by_id"] == me.id
    page = (await browser.get("/me")).text
    assert "Nobody is asking you for cover." in page
    # The override makes Tuesday 10 March mine.
    assert "Tue 10 Mar 09:00 UTC" in _text(_section(page, "my-shifts"))

    cancelled = await browser.submit("/me", f"/me/cover-requests/{mine.json()['id']}/cancel")
    assert cancelled.status_code == 303
    state = await client.get(f"/api/v1/cover-requests/{mine.json()['id']}", headers=me.headers)
    assert state.json()["state"] == "cancelled"
    assert "You have no open cover requests." in (await browser.get("/me")).text


async def test_i_cannot_accept_my_own_request_and_outsiders_cannot_cancel_one(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    bob = await factory.actor(Role.MEMBER)
    schedule = await _on_weekly_rota(factory, client, me.id, bob.id)
    mine = await client.post(
        f"/api/v1/schedules/{schedule['id']}/cover-requests",
        headers=me.headers,
        json={"start": iso(utc(2026, 3, 3, 9)), "end": iso(utc(2026, 3, 4, 9))},
    )
    request_id = mine.json()["id"]
    own = await browser.submit("/me", f"/me/cover-requests/{request_id}/accept")
    assert own.status_code == 409
    assert "you cannot cover your own request" in own.text
    # Someone neither on the team nor on the rota may not cancel it.
    outsider, _ = await sign_in(Role.MEMBER)
    refused = await outsider.submit("/me", f"/me/cover-requests/{request_id}/cancel")
    assert refused.status_code == 403
    assert "Go back" in refused.text
    state = await client.get(f"/api/v1/cover-requests/{request_id}", headers=me.headers)
    assert state.json()["state"] == "open"


# --------------------------------------------------------------------- notification rules


async def _ladder(browser: Browser, urgency: str = "high") -> str:
    page = (await browser.get("/me")).text
    found = re.search(rf'id="ladder-sentence-{urgency}">(.*?)</p>', page, re.S)
    assert found is not None
    return html.unescape(found[1]).strip()


async def test_adding_rules_changes_the_ladder_and_the_api_sees_them(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    slack = await factory.contact_method(me.id, ContactType.SLACK, "U0ALICE001")
    sms = await factory.contact_method(me.id, ContactType.SMS, "+15555550123")
    voice = await factory.contact_method(me.id, ContactType.VOICE, "+15555550123")
    # No rules: every pageable method at once.
    assert await _ladder(browser) == "Slack now, SMS now, call now"

    page = (await browser.get("/me")).text
    form = _section(page, "notification-rules")
    for label in ("Contact method", "After (minutes)", "Urgency"):
        assert re.search(rf'<label for="[^"]+">{re.escape(label)}</label>', form), label
    assert '<button type="submit">Add rule</button>' in form

    for method, minutes in ((slack, 0), (sms, 2), (voice, 5)):
        added = await browser.submit(
            "/me",
            "/me/notification-rules",
            {"contact_method_id": str(method.id), "delay_minutes": str(minutes), "urgency": "high"},
        )
        assert added.status_code == 303, added.text
        assert added.headers["location"] == "/me#notification-rules"
    assert await _ladder(browser) == "Slack now, SMS after 2 min, call after 5 min"
    # Low urgency has no rules of its own: the high ladder pages.
    assert await _ladder(browser, "low") == "Slack now, SMS after 2 min, call after 5 min"

    rules = await _rules(client, me)
    assert [(r["contact_method_id"], r["delay_minutes"], r["urgency"]) for r in rules] == [
        (slack.id, 0, "high"),
        (sms.id, 2, "high"),
        (voice.id, 5, "high"),
    ]

    low = await browser.submit(
        "/me",
        "/me/notification-rules",
        {"contact_method_id": str(slack.id), "delay_minutes": "90", "urgency": "low"},
    )
    assert low.status_code == 303
    assert await _ladder(browser, "low") == "Slack after 1 h 30 min"

    sms_rule = next(r for r in rules if r["contact_method_id"] == sms.id)
    removed = await browser.submit("/me", f"/me/notification-rules/{sms_rule['id']}/remove")
    assert removed.status_code == 303
    assert await _ladder(browser) == "Slack now, call after 5 min"
    assert sms_rule["id"] not in [r["id"] for r in await _rules(client, me)]


async def test_a_duplicate_or_out_of_range_rule_is_refused_with_the_apis_message(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    slack = await factory.contact_method(me.id, ContactType.SLACK, "U0ALICE001")
    data = {"contact_method_id": str(slack.id), "delay_minutes": "0", "urgency": "high"}
    assert (await browser.submit("/me", "/me/notification-rules", data)).status_code == 303
    again = await browser.submit("/me", "/me/notification-rules", data)
    assert again.status_code == 409
    assert "an identical notification rule already exists" in again.text
    too_late = await browser.submit(
        "/me", "/me/notification-rules", {**data, "delay_minutes": "2000"}
    )
    assert too_late.status_code == 422
    assert len(await _rules(client, me)) == 1


async def test_another_users_rules_cannot_be_changed_through_my_page(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    # Even an admin's page acts on the admin only: /me never takes a user id.
    for role in (Role.MEMBER, Role.ADMIN):
        browser, me = await sign_in(role)
        bob = await factory.actor(Role.MEMBER)
        bobs_method = await factory.contact_method(bob.id, ContactType.SLACK, "U0BOB0001")
        made = await client.post(
            f"/api/v1/users/{bob.id}/notification-rules",
            headers=bob.headers,
            json={"contact_method_id": bobs_method.id, "delay_minutes": 0},
        )
        assert made.status_code == 201, made.text

        removed = await browser.submit("/me", f"/me/notification-rules/{made.json()['id']}/remove")
        assert removed.status_code == 404
        assert f"notification rule {made.json()['id']} not found for user {me.id}" in removed.text
        added = await browser.submit(
            "/me",
            "/me/notification-rules",
            {"contact_method_id": str(bobs_method.id), "delay_minutes": "3", "urgency": "high"},
        )
        assert added.status_code == 422
        assert "does not belong to user" in added.text

        assert [r["id"] for r in await _rules(client, bob)] == [made.json()["id"]]
        assert await _rules(client, me) == []


# ----------------------------------------------------------------------------- test page


async def test_the_test_page_button_queues_a_test_and_says_how_it_went(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    email = await factory.contact_method(me.id, ContactType.EMAIL, "alice@example.com")
    # An unverified number is not offered: a test must not text a stranger.
    await factory.contact_method(me.id, ContactType.SMS, "+15555550199", verified=False)
    page = (await browser.get("/me")).text
    test_form = _section(page, "test-page")
    assert '<button type="submit">Send me a test page</button>' in test_form
    assert "+15555550199" not in test_form

    sent = await browser.submit("/me", "/me/test-page", {"contact_method_id": str(email.id)})
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    match = re.fullmatch(r"/me\?test=(\d+)#test-page", location)
    assert match, location
    notification_id = int(match[1])
    shown = _text(_section((await browser.get(location)).text, "test-page"))
    assert "Test page to alice@example.com: queued" in shown
    # Until it is sent, the status asks again by itself.
    fragment = await browser.get(
        f"/me/test-pages/{notification_id}", headers={"HX-Request": "true"}
    )
    assert 'hx-trigger="every 2s"' in fragment.text
    assert "<html" not in fragment.text

    api = await client.get(
        f"/api/v1/users/{me.id}/notifications/{notification_id}", headers=me.headers
    )
    assert api.status_code == 200
    assert api.json()["kind"] == "test" and api.json()["status"] == "pending"

    # The API's rate limit, with its message.
    again = await browser.submit("/me", "/me/test-page", {"contact_method_id": str(email.id)})
    assert again.status_code == 429
    assert "a test was sent moments ago" in again.text


async def test_the_test_status_of_someone_elses_notification_is_not_found(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    bob = await factory.actor(Role.MEMBER)
    bobs_email = await factory.contact_method(bob.id, ContactType.EMAIL, "bob@example.com")
    queued = await client.post(
        f"/api/v1/users/{bob.id}/contact-methods/{bobs_email.id}/test", headers=bob.headers
    )
    assert queued.status_code == 202, queued.text
    browser, _ = await sign_in(Role.MEMBER)
    nid = queued.json()["notification_id"]
    assert (await browser.get(f"/me/test-pages/{nid}")).status_code == 404
    assert (await browser.get(f"/me?test={nid}")).status_code == 404
    refused = await browser.submit(
        "/me", "/me/test-page", {"contact_method_id": str(bobs_email.id)}
    )
    assert refused.status_code == 404


# ------------------------------------------------------------------------- calendar link


async def test_my_calendar_link_is_shown_once_serves_my_shifts_and_can_be_revoked(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    await _on_weekly_rota(factory, client, me.id, (await factory.user()).id)
    made = await browser.submit("/me", "/me/calendar-feeds")
    assert made.status_code == 200, made.text
    url = re.search(r'id="calendar-url" value="([^"]+)"', made.text)
    assert url, made.text
    assert url[1].startswith(f"{PUBLIC_URL}/api/v1/calendars/batoncal")
    feed = await client.get(url[1].removeprefix(PUBLIC_URL))
    assert feed.status_code == 200
    assert "Payments primary" in feed.text

    link = _section((await browser.get("/me")).text, "calendar-link")
    assert url[1] not in link, "the secret is shown only when made"
    feed_id = re.search(r'action="/me/calendar-feeds/(\d+)/revoke"', link)
    assert feed_id
    revoked = await browser.submit("/me", f"/me/calendar-feeds/{feed_id[1]}/revoke")
    assert revoked.status_code == 303
    assert (await client.get(url[1].removeprefix(PUBLIC_URL))).status_code == 404
    assert "/revoke" not in _section((await browser.get("/me")).text, "calendar-link")


# ---------------------------------------------------------------------------------- rights


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("/me/notification-rules", {"contact_method_id": "1", "delay_minutes": "0"}),
        ("/me/notification-rules/1/remove", {}),
        ("/me/test-page", {"contact_method_id": "1"}),
        ("/me/calendar-feeds", {}),
        ("/me/contact-methods", {"type": "slack", "address": "U0ALICE001"}),
    ],
)
async def test_my_page_refuses_writes_without_the_csrf_token(
    sign_in: SignIn, client: httpx.AsyncClient, action: str, data: dict[str, str]
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    refused = await browser.http.post(action, data=data)
    assert refused.status_code == 403
    assert "did not come from a Baton page" in refused.text
    wrong = await browser.http.post(action, data={**data, "csrf_token": "forged"})
    assert wrong.status_code == 403
    assert await _rules(client, me) == []
    methods = await client.get(f"/api/v1/users/{me.id}/contact-methods", headers=me.headers)
    assert methods.json() == []


async def test_a_viewer_reads_the_page_but_may_not_change_anything(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, viewer = await sign_in(Role.VIEWER)
    slack = await factory.contact_method(viewer.id, ContactType.SLACK, "U0VIEWER01")
    assert (await browser.get("/me")).status_code == 200
    refused = await browser.submit(
        "/me",
        "/me/notification-rules",
        {"contact_method_id": str(slack.id), "delay_minutes": "0", "urgency": "high"},
    )
    assert refused.status_code == 403
    assert await _rules(client, viewer) == []
