"""Calendar feeds (parsed back with icalendar) and the cover request flow."""

from __future__ import annotations

from datetime import datetime

import httpx
from fastapi import FastAPI
from icalendar import Calendar

from app.core.clock import ManualClock
from app.notify.console import ConsoleProvider
from app.people.models import ContactType
from app.schedules.feeds import feed_window
from tests.factories import Factory
from tests.schedules.helpers import create_schedule, crew, iso, on_call, utc, weekly_layer


def _events(body: bytes) -> list[tuple[datetime, datetime, str, str]]:
    calendar = Calendar.from_ical(body)
    return sorted(
        (
            event.get("dtstart").dt,
            event.get("dtend").dt,
            str(event.get("summary")),
            str(event.get("uid")),
        )
        for event in calendar.walk("VEVENT")
    )


async def test_schedule_feed_matches_the_final_schedule(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> None:
    c = await crew(factory)
    a = await factory.user(name="Ada")
    b = await factory.user(name="Ben")
    s = await factory.user(name="Sam")
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        name="Payments primary",
        time_zone="America/New_York",
        layers=[
            weekly_layer([a.id, b.id], shadows=[s.id], start="2026-01-05", handoff_time="09:00")
        ],
    )
    await client.post(
        f"/api/v1/schedules/{schedule['id']}/overrides",
        headers=c.owner.headers,
        json={"start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z", "user_id": s.id},
    )
    created = await client.post(
        "/api/v1/calendar-feeds",
        headers=c.viewer.headers,
        json={"schedule_id": schedule["id"]},
    )
    assert created.status_code == 403, "viewers cannot create feeds"
    created = await client.post(
        "/api/v1/calendar-feeds", headers=c.outsider.headers, json={"schedule_id": schedule["id"]}
    )
    assert created.status_code == 201, created.text
    feed = created.json()
    assert feed["url"] == f"http://baton.test/api/v1/calendars/{feed['token']}.ics"
    listed = await client.get("/api/v1/calendar-feeds", headers=c.outsider.headers)
    assert [f["id"] for f in listed.json()] == [feed["id"]]
    assert "token" not in listed.json()[0], "the secret is shown once"

    response = await client.get(f"/api/v1/calendars/{feed['token']}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    assert str(calendar.get("x-wr-calname")) == "On call: Payments primary"
    events = _events(response.content)

    start, end = feed_window(clock.now())
    final = await client.get(
        f"/api/v1/schedules/{schedule['id']}/final-schedule",
        headers=c.viewer.headers,
        params={"start": iso(start), "end": iso(end)},
    )
    expected = sorted(
        (
            datetime.fromisoformat(shift["start"]),
            datetime.fromisoformat(shift["end"]),
            f"{'Shadowing' if shift['shadow'] else 'On call'}: Payments primary ({shift['name']})",
        )
        for shift in final.json()["shifts"]
    )
    assert [e[:3] for e in events] == expected
    assert ("On call: Payments primary (Sam)") in {e[2] for e in events}
    assert len({e[3] for e in events}) == len(events), "UIDs are unique"
    again = _events((await client.get(f"/api/v1/calendars/{feed['token']}.ics")).content)
    assert [e[3] for e in again] == [e[3] for e in events], "UIDs are stable"
    stamps = {e.get("dtstamp").dt for e in calendar.walk("VEVENT")}
    assert stamps == {clock.now()}

    revoked = await client.delete(f"/api/v1/calendar-feeds/{feed['id']}", headers=c.owner.headers)
    assert revoked.status_code == 404, "only its owner (or an admin) may revoke it"
    revoked = await client.delete(
        f"/api/v1/calendar-feeds/{feed['id']}", headers=c.outsider.headers
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    gone = await client.get(f"/api/v1/calendars/{feed['token']}.ics")
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"
    assert (await client.get("/api/v1/calendars/batoncal_nope.ics")).status_code == 404


async def test_my_shifts_feed_spans_schedules(client: httpx.AsyncClient, factory: Factory) -> None:
    c = await crew(factory)
    me = await factory.actor()
    other = await factory.user()
    await create_schedule(client, c.owner, c.team_id, name="one", layers=[weekly_layer([me.id])])
    await create_schedule(
        client, c.owner, c.team_id, name="two", layers=[weekly_layer([other.id], shadows=[me.id])]
    )
    for_someone_else = await client.post(
        "/api/v1/calendar-feeds", headers=me.headers, json={"user_id": other.id}
    )
    assert for_someone_else.status_code == 403
    created = await client.post(
        "/api/v1/calendar-feeds", headers=me.headers, json={"user_id": me.id}
    )
    assert created.status_code == 201
    body = (await client.get(f"/api/v1/calendars/{created.json()['token']}.ics")).content
    summaries = {e[2] for e in _events(body)}
    assert summaries == {"On call: one", "Shadowing: two"}
    assert str(Calendar.from_ical(body).get("x-wr-calname")).startswith("On call: ")
    neither = await client.post("/api/v1/calendar-feeds", headers=me.headers, json={})
    assert neither.status_code == 422


async def test_cover_request_flow(
    client: httpx.AsyncClient,
    factory: Factory,
    clock: ManualClock,
    console: ConsoleProvider,
    app: FastAPI,
) -> None:
    c = await crew(factory)
    ada = await factory.actor(name="Ada", time_zone="Europe/Berlin")
    ben = await factory.actor(name="Ben", time_zone="America/New_York")
    stranger = await factory.actor(name="Stranger")
    for person in (ada, ben):
        await factory.contact_method(person.id, ContactType.EMAIL, person.email)
    schedule = await create_schedule(
        client, c.owner, c.team_id, layers=[weekly_layer([ada.id, ben.id])]
    )
    sid = schedule["id"]
    window = {"start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"}

    not_mine = await client.post(
        f"/api/v1/schedules/{sid}/cover-requests", headers=ben.headers, json=window
    )
    assert not_mine.status_code == 422, "Ben is not on call then: nothing to cover"

    asked = await client.post(
        f"/api/v1/schedules/{sid}/cover-requests",
        headers=ada.headers,
        json={**window, "message": "dentist"},
    )
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["state"] == "open" and request["requester_id"] == ada.id
    await app.state.dispatcher.run()  # the request went into the outbox with the commit
    (asked_ben,) = [r for r in console.sent if r.message.user_id == ben.id]
    assert "Ada asks for cover" in asked_ben.message.text and "dentist" in asked_ben.message.text

    listed = await client.get(
        "/api/v1/cover-requests", headers=c.viewer.headers, params={"state": "open"}
    )
    assert [r["id"] for r in listed.json()["items"]] == [request["id"]]
    url = f"/api/v1/cover-requests/{request['id']}"
    own = await client.post(f"{url}/accept", headers=ada.headers)
    assert own.status_code == 409
    outsider = await client.post(f"{url}/accept", headers=stranger.headers)
    assert outsider.status_code == 403, "only the team and the schedule's participants cover"

    accepted = await client.post(f"{url}/accept", headers=ben.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted" and accepted.json()["accepted_by_id"] == ben.id
    override = await client.get(
        f"/api/v1/schedules/{sid}/overrides/{accepted.json()['override_id']}",
        headers=c.viewer.headers,
    )
    assert override.json()["user_id"] == ben.id and override.json()["replaces_user_id"] == ada.id
    assert await on_call(client, c.viewer, sid, utc(2026, 3, 3, 12)) == [ben.id]
    await app.state.dispatcher.run()
    told = {(r.message.user_id, r.message.subject) for r in console.sent}
    assert {(ada.id, "Cover accepted: payments"), (ben.id, "Cover accepted: payments")} <= told
    (to_ada,) = [r for r in console.sent if r.message.user_id == ada.id]
    assert "Ben covers you" in to_ada.message.text and "Europe/Berlin" in to_ada.message.text

    twice = await client.post(f"{url}/accept", headers=c.owner.headers)
    assert twice.status_code == 409 and twice.json()["state"] == "accepted"

    later = await client.post(
        f"/api/v1/schedules/{sid}/cover-requests",
        headers=ada.headers,
        json={"start": "2026-03-05T00:00:00Z", "end": "2026-03-06T00:00:00Z"},
    )
    cancel_url = f"/api/v1/cover-requests/{later.json()['id']}/cancel"
    assert (await client.post(cancel_url, headers=ben.headers)).status_code == 403
    cancelled = await client.post(cancel_url, headers=ada.headers)
    assert cancelled.json()["state"] == "cancelled"

    expiring = await client.post(
        f"/api/v1/schedules/{sid}/cover-requests",
        headers=ada.headers,
        json={"start": "2026-03-07T00:00:00Z", "end": "2026-03-08T00:00:00Z"},
    )
    clock.set(utc(2026, 3, 8, 1))
    expired = await client.get(
        f"/api/v1/cover-requests/{expiring.json()['id']}", headers=c.viewer.headers
    )
    assert expired.json()["state"] == "expired"
    late = await client.post(
        f"/api/v1/cover-requests/{expiring.json()['id']}/accept", headers=ben.headers
    )
    assert late.status_code == 409
    by_state = await client.get(
        "/api/v1/cover-requests", headers=c.viewer.headers, params={"state": "expired"}
    )
    assert [r["id"] for r in by_state.json()["items"]] == [expiring.json()["id"]]


async def test_accepting_a_conflicting_cover_is_refused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    c = await crew(factory)
    ada, ben = await factory.actor(), await factory.actor()
    schedule = await create_schedule(
        client, c.owner, c.team_id, layers=[weekly_layer([ada.id, ben.id])]
    )
    sid = schedule["id"]
    window = {"start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"}
    request = await client.post(
        f"/api/v1/schedules/{sid}/cover-requests", headers=ada.headers, json=window
    )
    blocking = await client.post(
        f"/api/v1/schedules/{sid}/overrides",
        headers=c.owner.headers,
        json={**window, "user_id": c.owner.id},
    )
    refused = await client.post(
        f"/api/v1/cover-requests/{request.json()['id']}/accept", headers=ben.headers
    )
    assert refused.status_code == 409
    assert refused.json()["conflicting_override_ids"] == [blocking.json()["id"]]
    still = await client.get(f"/api/v1/cover-requests/{request.json()['id']}", headers=ben.headers)
    assert still.json()["state"] == "open", "nothing was written"
