"""A simulated March through the real API and engine: deploys, incidents acknowledged and
resolved at chosen times, an escalation, a flapping alert, night pages. The metrics API must
give exactly the figures computed by hand below.

Alice and Bob live in Tokyo (UTC+9, no DST) and share a daily rotation handing over at 09:00
Tokyo (00:00 UTC) from Monday 2 March: Alice holds the even days (2, 4, ... 30), Bob the odd
ones (3, 5, ... 31): 15 days, 360 hours each in March. The team's zone is UTC.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.core.clock import ManualClock
from app.people.models import ContactType
from tests.factories import Factory
from tests.paging import Engine, api
from tests.worlds import PaymentsWorld, Rotation, build_payments_world

SINCE = "2026-03-01T00:00:00Z"
UNTIL = "2026-04-01T00:00:00Z"
MIN = 60.0


@pytest.fixture
def clock() -> ManualClock:
    # Before March, so the rotation (from 2 March) is in force for the whole month.
    return ManualClock(datetime(2026, 2, 28, 12, 0, tzinfo=UTC))


@pytest.fixture
def engine(app, db, clock) -> Engine:  # type: ignore[no-untyped-def]
    return Engine(app, db, clock)


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> PaymentsWorld:
    built = await build_payments_world(
        client,
        factory,
        time_zone="Asia/Tokyo",
        rotation=Rotation(participants=("Alice", "Bob"), start="2026-03-02"),
    )
    channels = {"Alice": (ContactType.EMAIL, ContactType.SMS), "Bob": (ContactType.EMAIL,)}
    for name, kinds in channels.items():
        person = built.members[name]
        for kind in kinds:
            address = f"{name.lower()}@example.com" if kind is ContactType.EMAIL else "+15550100"
            method = await factory.contact_method(person.id, kind, address)
            await api(
                client,
                built.admin,
                "POST",
                f"/api/v1/users/{person.id}/notification-rules",
                json={"contact_method_id": method.id, "delay_minutes": 0, "urgency": "high"},
            )
    return built


async def _at(engine: Engine, when: str) -> None:
    target = datetime.fromisoformat(when)
    engine.clock.advance(target - engine.clock.now())
    await engine.drain()


async def _deploy(world: PaymentsWorld, **body: Any) -> dict[str, Any]:
    return await api(
        world.client,
        world.admin,
        "POST",
        "/api/v1/deployments",
        json={"service": "payments-api", "environment": "production", **body},
    )


async def _act(world: PaymentsWorld, who: str, incident_id: int, action: str) -> None:
    body = {"note": "fixed"} if action == "resolve" else None
    await api(
        world.client,
        world.members[who],
        "POST",
        f"/api/v1/incidents/{incident_id}/{action}",
        json=body,
    )


async def _march(world: PaymentsWorld, engine: Engine) -> None:
    # D1 (Mon 2 March 01:00): committed 3 h before; it causes I1.
    await _at(engine, "2026-03-02T01:00:00+00:00")
    d1 = await _deploy(world, version="v1", committed_at="2026-03-01T22:00:00Z")
    # I1: Tokyo 10:30 Monday (Alice on call): acknowledged after 4 min, resolved after 40.
    await _at(engine, "2026-03-02T01:30:00+00:00")
    i1 = await world.fire("checkout 500s", dedup_key="checkout")
    await engine.drain()
    await _at(engine, "2026-03-02T01:34:00+00:00")
    await _act(world, "Alice", i1, "acknowledge")
    await api(
        world.client,
        world.alice,
        "POST",
        f"/api/v1/incidents/{i1}/deploys/{d1['id']}/confirm",
        json={"note": "bad config"},
    )
    await _at(engine, "2026-03-02T02:10:00+00:00")
    await _act(world, "Alice", i1, "resolve")

    # I2: Wed 4 March 16:00 UTC = Thu 01:00 in Tokyo, Alice on call, nobody answers for 5 min:
    # step 2 pages Bob, who acknowledges at 8 min and resolves at 50.
    await _at(engine, "2026-03-04T16:00:00+00:00")
    i2 = await world.fire("queue depth", dedup_key="queue")
    await engine.drain()
    await _at(engine, "2026-03-04T16:05:00+00:00")
    await _at(engine, "2026-03-04T16:08:00+00:00")
    await _act(world, "Bob", i2, "acknowledge")
    await _at(engine, "2026-03-04T16:50:00+00:00")
    await _act(world, "Bob", i2, "resolve")

    # I3: Sat 7 March 03:00 UTC (Bob on call): the source resolves it 3 min later (flapping).
    await _at(engine, "2026-03-07T03:00:00+00:00")
    await world.fire("checkout 500s", dedup_key="checkout")
    await engine.drain()
    await _at(engine, "2026-03-07T03:03:00+00:00")
    answer = await world.client.post(
        "/api/v1/integrations/generic",
        json={"action": "resolve", "dedup_key": "checkout"},
        headers={"Authorization": f"Bearer {world.key}"},
    )
    assert answer.status_code == 202, answer.text
    await engine.drain()

    # D2 (Tue 10 March 03:00): committed a day before.
    await _at(engine, "2026-03-10T03:00:00+00:00")
    await _deploy(world, version="v2", committed_at="2026-03-09T03:00:00Z")
    # I4: 10:00 UTC = 19:00 in Tokyo (Alice on call): acknowledged at 2 min, resolved at 20.
    await _at(engine, "2026-03-10T10:00:00+00:00")
    i4 = await world.fire("disk full", dedup_key="disk")
    await engine.drain()
    await _at(engine, "2026-03-10T10:02:00+00:00")
    await _act(world, "Alice", i4, "acknowledge")
    await _at(engine, "2026-03-10T10:20:00+00:00")
    await _act(world, "Alice", i4, "resolve")

    # D3 reported failed at 03:00 on 12 March; D4 succeeds at 05:00 (committed 30 min before).
    await _at(engine, "2026-03-12T03:00:00+00:00")
    await _deploy(world, version="v3", status="failed", committed_at="2026-03-12T01:00:00Z")
    await _at(engine, "2026-03-12T05:00:00+00:00")
    await _deploy(world, version="v4", committed_at="2026-03-12T04:30:00Z")
    # D5: no commit time known.
    await _at(engine, "2026-03-20T03:00:00+00:00")
    await _deploy(world, version="v5")
    await _at(engine, "2026-04-01T01:00:00+00:00")


async def _metrics(world: PaymentsWorld, path: str, **params: str) -> httpx.Response:
    return await world.client.get(
        f"/api/v1/metrics/{path}",
        params={"since": SINCE, "until": UNTIL, **params},
        headers=world.admin.headers,
    )


async def test_a_simulated_month_gives_the_figures_computed_by_hand(
    world: PaymentsWorld, engine: Engine
) -> None:
    await _march(world, engine)

    answer = await _metrics(world, f"services/{world.service['id']}")
    assert answer.status_code == 200, answer.text
    service = answer.json()
    incidents = service["incidents"]
    assert incidents["incidents"] == 4
    # MTTA over I1, I2, I4: 4, 8, 2 min. MTTR over all four: 40, 50, 3, 20 min.
    assert incidents["mtta"] == {"count": 3, "median": 4 * MIN, "p90": 8 * MIN, "mean": 280.0}
    assert incidents["mttr"] == {
        "count": 4,
        "median": 30 * MIN,
        "p90": 50 * MIN,
        "mean": (40 + 50 + 3 + 20) * MIN / 4,
    }
    assert (incidents["escalated"], incidents["escalation_rate"]) == (1, 0.25)
    assert incidents["flapping"] == 1
    # In the team's zone (UTC): I1 at 01:30 (night) and I3 on Saturday.
    assert (incidents["out_of_hours"], incidents["out_of_hours_share"]) == (2, 0.5)
    assert incidents["noisiest_dedup_keys"][0] == {"key": "checkout", "count": 2}
    assert incidents["noisiest_alerts"][0] == {"key": "checkout 500s", "count": 2}

    dora = service["dora"]
    assert dora["deployments"] == 5
    assert dora["deployments_per_day"] == pytest.approx(5 / 31)
    assert dora["deployment_frequency_band"] == "high"
    # Lead times of the successful deploys with a commit time: 3 h, 24 h, 30 min.
    assert dora["change_lead_time"]["median"] == 3 * 3600.0
    assert dora["change_lead_time_band"] == "elite"
    # D1 (confirmed cause) and D3 (reported failed) of five.
    assert (dora["failed_changes"], dora["change_failure_rate"]) == (2, 0.4)
    assert dora["change_failure_rate_band"] == "low"
    # D1: deployed 01:00, its incident resolved 02:10 (70 min); D3: 03:00 to D4 at 05:00.
    assert dora["recovery_time"] == {
        "count": 2,
        "median": 95 * MIN,
        "p90": 120 * MIN,
        "mean": 95 * MIN,
    }
    assert dora["unrecovered"] == 0
    assert dora["recovery_time_band"] == "high"
    assert dora["report_year"] == 2023

    per_day = {p["day"]: p["incidents"] for p in service["series"]["per_day"]}
    assert len(per_day) == 31
    assert sum(per_day.values()) == 4
    assert per_day["2026-03-07"] == 1
    weeks = {p["week_start"]: p for p in service["series"]["per_week"]}
    assert weeks["2026-03-02"]["incidents"] == 3
    assert weeks["2026-03-02"]["mtta_median"] == 6 * MIN  # 4 and 8 min
    assert weeks["2026-03-09"]["mttr_median"] == 20 * MIN

    team = (await _metrics(world, f"teams/{world.team['id']}")).json()
    people = {p["name"]: p for p in team["load"]["people"]}
    alice, bob = people["Alice"], people["Bob"]
    # Alice: e-mail and SMS for I1 (Tokyo 10:30), I2 (01:00, sleep), I4 (19:00).
    assert alice["interruptions"] == 6
    assert alice["by_channel"] == {"email": 3, "sms": 3}
    assert (alice["business"], alice["evening"], alice["night"], alice["weekend"]) == (2, 2, 2, 0)
    assert alice["on_call_hours"] == 360.0
    assert alice["shifts"] == 30.0
    assert (alice["pages"], alice["pages_on_call"]) == (3, 3)
    assert alice["pages_per_shift"] == pytest.approx(0.1)
    assert alice["on_call_share"] == pytest.approx(360 / 744)
    assert alice["over_on_call_share"] is True
    assert alice["over_pages_per_shift"] is False
    # Bob: I2 by escalation at Tokyo 01:05 (not his day), I3 on Saturday (his day).
    assert (bob["interruptions"], bob["night"], bob["weekend"]) == (2, 1, 1)
    assert (bob["pages"], bob["pages_on_call"]) == (2, 1)
    assert bob["pages_per_shift"] == pytest.approx(1 / 30)
    assert team["load"]["ops_share_of_pages"] == 1.0
    assert team["load"]["dev_share_of_pages"] == 0.0
    assert team["load"]["ops_share_of_on_call_hours"] == 1.0
    assert team["incidents"]["incidents"] == 4
    assert [s["service_name"] for s in team["services"]] == ["payments-api"]
    assert team["services"][0]["dora"]["change_failure_rate"] == 0.4

    person = (await _metrics(world, f"people/{world.alice.id}")).json()
    assert person["load"] == alice
    # Alice was paged for I1, I2 and I4.
    assert person["incidents"]["incidents"] == 3
    assert person["incidents"]["escalated"] == 1

    # Two adjacent windows add up to the month.
    halves = [
        (await _metrics(world, f"teams/{world.team['id']}", since=a, until=b)).json()
        for a, b in ((SINCE, "2026-03-08T00:00:00Z"), ("2026-03-08T00:00:00Z", UNTIL))
    ]
    assert sum(h["incidents"]["incidents"] for h in halves) == 4
    assert sum(h["load"]["interruptions"] for h in halves) == 8

    csv_answer = await _metrics(world, f"services/{world.service['id']}", format="csv")
    assert csv_answer.status_code == 200
    assert csv_answer.headers["content-type"].startswith("text/csv")
    rows = dict(csv.reader(io.StringIO(csv_answer.text)))
    assert rows["incidents.mttr.median"] == "1800.0"
    assert rows["dora.change_failure_rate_band"] == "low"


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z"),
        ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        ("2024-01-01T00:00:00Z", "2026-01-03T00:00:00Z"),
    ],
)
async def test_a_window_that_ends_first_or_lasts_over_two_years_is_refused(
    world: PaymentsWorld, since: str, until: str
) -> None:
    for path in (
        f"services/{world.service['id']}",
        f"teams/{world.team['id']}",
        f"people/{world.alice.id}",
    ):
        answer = await world.client.get(
            f"/api/v1/metrics/{path}",
            params={"since": since, "until": until},
            headers=world.admin.headers,
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "invalid_input"


async def test_two_years_is_allowed_and_unknown_things_are_404(world: PaymentsWorld) -> None:
    ok = await world.client.get(
        f"/api/v1/metrics/teams/{world.team['id']}",
        params={"since": "2024-03-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        headers=world.admin.headers,
    )
    assert ok.status_code == 200, ok.text
    for path in ("services/9999", "teams/9999", "people/9999"):
        answer = await world.client.get(f"/api/v1/metrics/{path}", headers=world.admin.headers)
        assert answer.status_code == 404, answer.text
    bad = await world.client.get(
        f"/api/v1/metrics/services/{world.service['id']}",
        params={"format": "xml"},
        headers=world.admin.headers,
    )
    assert bad.status_code == 422
    anonymous = await world.client.get(f"/api/v1/metrics/services/{world.service['id']}")
    assert anonymous.status_code == 401
