"""Reviews through the API: a scenario incident's review holds its whole timeline and the
deploy before it, exports, and its action item reminds its owner; states, permissions, bad
input, the reviews owed, and reminders and nudges once each as the clock moves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.notify.models import Notification
from app.people.models import ContactType
from app.review.reminders import remind
from tests.factories import Actor, Factory
from tests.notify.nearby_deploy import deploy_before_incident
from tests.paging import api
from tests.worlds import PaymentsWorld, build_payments_world


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> PaymentsWorld:
    built = await build_payments_world(client, factory)
    for name, person in built.members.items():
        method = await factory.contact_method(
            person.id, ContactType.EMAIL, f"{name.lower()}@example.com"
        )
        for urgency in ("high", "low"):
            await api(
                client,
                built.admin,
                "POST",
                f"/api/v1/users/{person.id}/notification-rules",
                json={"contact_method_id": method.id, "delay_minutes": 0, "urgency": urgency},
            )
    return built


async def _incident(
    world: PaymentsWorld, clock: ManualClock, *, ack_after: int = 3, open_for: int = 43
) -> int:
    """An incident Alice acknowledges after ``ack_after`` minutes, notes, and resolves after
    ``open_for`` minutes."""
    incident_id = await world.fire()
    path = f"/api/v1/incidents/{incident_id}"
    clock.advance(timedelta(minutes=ack_after))
    await api(world.client, world.alice, "POST", f"{path}/acknowledge")
    await api(world.client, world.alice, "POST", f"{path}/notes", json={"text": "rolled back"})
    clock.advance(timedelta(minutes=open_for - ack_after))
    await api(world.client, world.alice, "POST", f"{path}/resolve")
    return incident_id


async def _draft(world: PaymentsWorld, incident_id: int, by: Actor | None = None) -> Any:
    return await api(
        world.client, by or world.alice, "POST", f"/api/v1/incidents/{incident_id}/review"
    )


async def _sent_to(db: Database, user_id: int) -> list[Notification]:
    async with db.new_session() as session:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.kind == "info")
            .order_by(Notification.id)
        )
        return list(rows)


async def test_the_review_of_a_scenario_incident_holds_its_timeline_and_deploy_exports_and_reminds(
    world: PaymentsWorld, clock: ManualClock, db: Database
) -> None:
    deployment_id = await deploy_before_incident(db, clock, world.service["id"])
    opened = clock.now()
    incident_id = await _incident(world, clock)

    answer = await world.client.post(
        f"/api/v1/incidents/{incident_id}/review", headers=world.alice.headers
    )
    assert answer.status_code == 201, answer.text
    doc = answer.json()
    review = doc["review"]
    assert (review["state"], review["owner_id"]) == ("draft", world.alice.id)
    assert "Resolved by Alice after 43 min" in review["summary"]
    assert datetime.fromisoformat(doc["started_at"]) == opened
    kinds = [e["kind"] for e in doc["timeline"]]
    timeline = await world.timeline(incident_id)
    assert kinds == [e["kind"] for e in timeline]  # the whole timeline, in order
    assert {"opened", "deploy_nearby", "escalated", "acknowledged", "note", "resolved"} <= set(
        kinds
    )
    assert [(p["name"], p["channels"], p["step"]) for p in doc["pages"]] == [
        ("Alice", ["email now"], 1)
    ]
    assert [(a["name"], a["after_seconds"]) for a in doc["acknowledgements"]] == [("Alice", 180)]
    assert doc["seconds_to_resolve"] == 43 * 60
    assert doc["resolution"]["by"] == "Alice"
    assert [a["summary"] for a in doc["alerts"]] == ["p99 latency above 2s"]
    assert [(n["by"], n["text"]) for n in doc["notes"]] == [("Alice", "rolled back")]
    assert [(d["deployment_id"], d["version"], d["verdict"]) for d in doc["deploys"]] == [
        (deployment_id, "v1.4.2", "suspected")
    ]

    # Markdown and HTML exports, with the deploy that preceded the incident.
    review_id = review["id"]
    markdown = await world.client.get(
        f"/api/v1/reviews/{review_id}/export.md", headers=world.bob.headers
    )
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "v1.4.2 to production by dina, 12 min before the incident" in markdown.text
    assert "Acknowledged by Alice via api" in markdown.text
    page = await world.client.get(
        f"/api/v1/reviews/{review_id}/export.html", headers=world.bob.headers
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "sandbox" in page.headers["content-security-policy"]
    assert "<h2>Deploys nearby</h2>" in page.text and "v1.4.2" in page.text

    # The action item reminds Bob on its due day at 09:00 his time, then once it is overdue.
    item = await api(
        world.client,
        world.alice,
        "POST",
        f"/api/v1/reviews/{review_id}/action-items",
        json={
            "title": "Version the cache keys",
            "owner_id": world.bob.id,
            "due_date": "2026-03-04",
        },
    )
    assert (item["status"], item["past_due"], item["incident_id"]) == ("open", False, incident_id)
    assert await remind(db) == 0
    clock.set(datetime(2026, 3, 4, 8, 59, tzinfo=UTC))
    assert await remind(db) == 0
    clock.set(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    assert await remind(db) == 1
    assert await remind(db) == 0
    (due,) = await _sent_to(db, world.bob.id)
    assert due.subject == "[Due today] Action item: Version the cache keys"
    assert due.contact_type == ContactType.EMAIL and due.context["action_item_id"] == item["id"]
    assert f"incident #{incident_id}" in due.body
    mine = await api(world.client, world.bob, "GET", "/api/v1/action-items")
    assert [i["id"] for i in mine] == [item["id"]]

    clock.set(datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    assert await remind(db) == 1
    assert await remind(db) == 0
    overdue = (await _sent_to(db, world.bob.id))[-1]
    assert overdue.subject == "[Overdue] Action item: Version the cache keys"
    listed = await api(world.client, world.bob, "GET", "/api/v1/action-items")
    assert listed[0]["past_due"] is True

    # The review is still owed: Alice is nudged once, the working day after 3 days passed.
    clock.set(datetime(2026, 3, 6, 9, 0, tzinfo=UTC))
    assert await remind(db) == 1
    assert await remind(db) == 0
    (nudge,) = await _sent_to(db, world.alice.id)
    assert nudge.subject.startswith(f"[Review owed] #{incident_id} payments-api")
    assert "opened after deploy v1.4.2" in nudge.body

    # Done: no more reminders whatever the clock says.
    await api(
        world.client,
        world.bob,
        "PATCH",
        f"/api/v1/action-items/{item['id']}",
        json={"status": "done"},
    )
    clock.advance(timedelta(days=30))
    assert await remind(db) == 0


async def test_states_go_draft_in_review_published_and_published_is_read_only(
    world: PaymentsWorld, clock: ManualClock
) -> None:
    incident_id = await _incident(world, clock)
    review_id = (await _draft(world, incident_id))["review"]["id"]
    path = f"/api/v1/reviews/{review_id}"

    async def move(state: str) -> httpx.Response:
        return await world.client.post(
            f"{path}/state", headers=world.bob.headers, json={"state": state}
        )

    refused = await move("published")
    assert refused.status_code == 409 and "in_review first" in refused.json()["detail"]
    edited = await world.client.patch(
        path,
        headers=world.bob.headers,
        json={"summary": "**Cache** stampede <b>after</b> v1.4.2", "severity": "sev2"},
    )
    assert edited.status_code == 200 and edited.json()["severity"] == "sev2"
    assert (await move("in_review")).json()["state"] == "in_review"
    assert (await move("draft")).json()["state"] == "draft"
    assert (await move("in_review")).status_code == 200
    published = (await move("published")).json()
    assert published["state"] == "published" and published["published_by_id"] == world.bob.id
    assert published["published_at"] is not None

    late = await world.client.patch(path, headers=world.bob.headers, json={"lessons": "more"})
    assert late.status_code == 409 and late.json()["code"] == "conflict"
    assert (await move("draft")).status_code == 409
    # A second draft request answers the same review, unchanged.
    again = await world.client.post(
        f"/api/v1/incidents/{incident_id}/review", headers=world.alice.headers
    )
    assert again.status_code == 200 and again.json()["review"]["state"] == "published"
    assert again.json()["review"]["summary"] == "**Cache** stampede <b>after</b> v1.4.2"

    # Action items still change on a published review; a past due date is flagged, not refused.
    yesterday = (clock.now().date() - timedelta(days=1)).isoformat()
    item = await api(
        world.client,
        world.bob,
        "POST",
        f"{path}/action-items",
        json={"title": "Add a runbook step", "due_date": yesterday},
    )
    assert item["past_due"] is True
    moved = await api(
        world.client,
        world.bob,
        "PATCH",
        f"/api/v1/action-items/{item['id']}",
        json={"due_date": (clock.now().date() + timedelta(days=7)).isoformat()},
    )
    assert moved["past_due"] is False
    doc = await api(world.client, world.bob, "GET", path)
    assert [i["title"] for i in doc["action_items"]] == ["Add a runbook step"]


async def test_the_services_team_and_admins_edit_others_read(
    world: PaymentsWorld, clock: ManualClock, factory: Factory
) -> None:
    incident_id = await _incident(world, clock)
    outsider = await factory.actor(Role.MEMBER, name="Olga", email="olga@example.com")
    viewer = await factory.actor(Role.VIEWER, name="Vic", email="vic@example.com")
    draft_path = f"/api/v1/incidents/{incident_id}/review"
    for who in (outsider, viewer):
        answer = await world.client.post(draft_path, headers=who.headers)
        assert answer.status_code == 403, answer.text
    review_id = (await _draft(world, incident_id, world.admin))["review"]["id"]
    path = f"/api/v1/reviews/{review_id}"
    for who in (outsider, viewer):
        assert (await world.client.get(path, headers=who.headers)).status_code == 200
        assert (await world.client.get(draft_path, headers=who.headers)).status_code == 200
        for method, url, body in (
            ("PATCH", path, {"summary": "mine now"}),
            ("POST", f"{path}/state", {"state": "in_review"}),
            ("POST", f"{path}/action-items", {"title": "x"}),
        ):
            answer = await world.client.request(method, url, headers=who.headers, json=body)
            assert answer.status_code == 403, (who.name, method, url, answer.text)
    # An action item's owner outside the team may still mark it done.
    item = await api(
        world.client,
        world.alice,
        "POST",
        f"{path}/action-items",
        json={"title": "Ask the DB team", "owner_id": outsider.id},
    )
    done = await api(
        world.client,
        outsider,
        "PATCH",
        f"/api/v1/action-items/{item['id']}",
        json={"status": "done"},
    )
    assert done["status"] == "done" and done["completed_at"] is not None
    renamed = await world.client.patch(
        f"/api/v1/action-items/{item['id']}", headers=viewer.headers, json={"title": "no"}
    )
    assert renamed.status_code == 403


async def test_unknown_incidents_and_reviews_are_404(world: PaymentsWorld) -> None:
    for method, path in (
        ("GET", "/api/v1/incidents/987654/review"),
        ("POST", "/api/v1/incidents/987654/review"),
        ("GET", "/api/v1/reviews/987654"),
        ("GET", "/api/v1/reviews/987654/export.md"),
        ("GET", "/api/v1/reviews/987654/export.html"),
    ):
        answer = await world.client.request(method, path, headers=world.admin.headers)
        assert answer.status_code == 404, (method, path)
        assert answer.json()["code"] == "not_found"
    incident_id = await world.fire()
    answer = await world.client.get(
        f"/api/v1/incidents/{incident_id}/review", headers=world.admin.headers
    )
    assert answer.status_code == 404 and "POST to draft one" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("review", {"summary": "x" * 20_001}),
        ("review", {"severity": "sev9"}),
        ("review", {"root_cause": "bidi \u202e override"}),
        ("review", {"owner_id": 987654}),
        ("review", {"summary": None}),
        ("review", {"colour": "red"}),
        ("state", {"state": "archived"}),
        ("items", {"title": ""}),
        ("items", {"title": "x", "tracker_url": "javascript:alert(1)"}),
        ("items", {"title": "x", "due_date": "next tuesday"}),
        ("items", {"title": "x", "owner_id": 987654}),
    ],
)
async def test_bad_input_is_422_with_a_reason(
    world: PaymentsWorld, clock: ManualClock, target: str, body: dict[str, Any]
) -> None:
    incident_id = await _incident(world, clock)
    review_id = (await _draft(world, incident_id))["review"]["id"]
    method, path = {
        "review": ("PATCH", f"/api/v1/reviews/{review_id}"),
        "state": ("POST", f"/api/v1/reviews/{review_id}/state"),
        "items": ("POST", f"/api/v1/reviews/{review_id}/action-items"),
    }[target]
    answer = await world.client.request(method, path, headers=world.alice.headers, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] in ("validation_error", "invalid_input")
    assert answer.json()["detail"]


async def test_the_reviews_owed_follow_the_services_policy(
    world: PaymentsWorld, clock: ManualClock, db: Database
) -> None:
    long_one = await _incident(world, clock, open_for=43)
    clock.advance(timedelta(hours=1))
    short_one = await _incident(world, clock, open_for=10)
    clock.advance(timedelta(hours=1))
    await deploy_before_incident(db, clock, world.service["id"])
    after_deploy = await _incident(world, clock, open_for=5)
    clock.advance(timedelta(hours=1))
    still_open = await world.fire("disk full")

    async def owed(**params: Any) -> dict[int, list[str]]:
        rows = await api(
            world.client,
            world.bob,
            "GET",
            "/api/v1/reviews",
            params={"missing": "true", **params},
        )
        return {r["incident_id"]: r["why"] for r in rows}

    listed = await owed()
    assert set(listed) == {long_one, after_deploy}
    assert short_one not in listed and still_open not in listed
    assert listed[long_one] == [
        "high urgency and open 43 min (the service asks for a review after 30 min)"
    ]
    assert listed[after_deploy] == ["opened after deploy v1.4.2"]
    assert set(await owed(team_id=world.team["id"])) == {long_one, after_deploy}
    assert await owed(service_id=987654) == {}

    # The policy is the service's: a 5-minute threshold makes the short one owed too.
    await api(
        world.client,
        world.admin,
        "PATCH",
        f"/api/v1/services/{world.service['id']}",
        json={"review_after_minutes": 5},
    )
    assert set(await owed()) == {long_one, short_one, after_deploy}

    # A published review is no longer owed; its row shows in the plain list.
    review_id = (await _draft(world, long_one))["review"]["id"]
    for state in ("in_review", "published"):
        await api(
            world.client,
            world.alice,
            "POST",
            f"/api/v1/reviews/{review_id}/state",
            json={"state": state},
        )
    assert long_one not in await owed()
    published = await api(
        world.client, world.bob, "GET", "/api/v1/reviews", params={"state": "published"}
    )
    assert [(r["incident_id"], r["owed"]) for r in published] == [(long_one, False)]


async def test_review_policy_and_digest_settings_are_validated(world: PaymentsWorld) -> None:
    service_path = f"/api/v1/services/{world.service['id']}"
    team_path = f"/api/v1/teams/{world.team['id']}"
    assert world.service["review_after_minutes"] == 30
    assert world.service["review_nudge_days"] == 3
    assert (world.team["time_zone"], world.team["digest_weekday"]) == ("UTC", 0)
    assert (world.team["digest_time"], world.team["digest_enabled"]) == ("09:00", True)
    for body in (
        {"review_after_minutes": 10081},
        {"review_after_minutes": -1},
        {"review_nudge_days": 0},
    ):
        answer = await world.client.patch(service_path, headers=world.admin.headers, json=body)
        assert answer.status_code == 422, body
    for body in (
        {"digest_time": "25:00"},
        {"digest_time": "9am"},
        {"digest_weekday": 7},
        {"time_zone": "Mars/Olympus"},
        {"digest_email": "not an address"},
        {"digest_slack_channel": "#has spaces"},
    ):
        answer = await world.client.patch(team_path, headers=world.admin.headers, json=body)
        assert answer.status_code == 422, body
    team = await api(
        world.client,
        world.admin,
        "PATCH",
        team_path,
        json={
            "time_zone": "Europe/Berlin",
            "digest_weekday": 4,
            "digest_time": "16:30",
            "digest_slack_channel": "#sre-weekly",
            "digest_email": "SRE@example.com",
            "digest_enabled": False,
        },
    )
    assert (team["time_zone"], team["digest_weekday"], team["digest_time"]) == (
        "Europe/Berlin",
        4,
        "16:30",
    )
    assert (team["digest_slack_channel"], team["digest_email"]) == ("sre-weekly", "sre@example.com")
    created = await api(
        world.client,
        world.admin,
        "POST",
        "/api/v1/teams",
        json={"name": "dba", "kind": "ops", "digest_weekday": 2, "time_zone": "Asia/Tokyo"},
    )
    assert (created["digest_weekday"], created["time_zone"]) == (2, "Asia/Tokyo")
    service = await api(
        world.client,
        world.admin,
        "PATCH",
        service_path,
        json={"review_after_minutes": 0, "review_nudge_days": 7},
    )
    assert (service["review_after_minutes"], service["review_nudge_days"]) == (0, 7)


def test_the_reminder_time_is_nine_in_the_owners_zone() -> None:
    from zoneinfo import ZoneInfo

    from app.review.reminders import due_at, first_remind_at

    berlin = ZoneInfo("Europe/Berlin")
    assert due_at(date(2026, 3, 4), berlin) == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
    late = datetime(2026, 3, 5, 10, 43, tzinfo=UTC)
    assert first_remind_at(late, ZoneInfo("UTC")) == datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    early = datetime(2026, 3, 5, 6, 0, tzinfo=UTC)
    assert first_remind_at(early, ZoneInfo("UTC")) == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)


async def test_the_engine_runs_the_reminders_every_minute(
    world: PaymentsWorld, clock: ManualClock, db: Database, app: Any, settings: Any
) -> None:
    from app.main import _build_engine

    incident_id = await _incident(world, clock)
    review_id = (await _draft(world, incident_id))["review"]["id"]
    today = clock.now().date().isoformat()
    await api(
        world.client,
        world.alice,
        "POST",
        f"/api/v1/reviews/{review_id}/action-items",
        json={"title": "Tune the alert", "owner_id": world.bob.id, "due_date": today},
    )
    engine = _build_engine(
        settings.model_copy(update={"engine_enabled": True}),
        db,
        app.state.dispatcher,
        app.state.notifier,
    )
    assert engine is not None
    interval, job = engine._jobs["review-reminders"]
    assert interval == 60
    await job()  # 10:43, after 09:00 on the due day
    await job()
    assert [n.subject for n in await _sent_to(db, world.bob.id)] == [
        "[Due today] Action item: Tune the alert"
    ]
