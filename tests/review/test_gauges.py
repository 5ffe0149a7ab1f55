"""The service and team gauges at /metrics: the values after a ``metrics-refresh`` run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.core.clock import ManualClock
from app.core.db import Database
from app.engine.scheduler import Engine as Scheduler
from app.review.gauges import GAUGES, refresh_gauges
from app.review.models import ActionItem, ActionStatus, Review
from tests.factories import Factory
from tests.paging import api
from tests.worlds import PaymentsWorld, build_payments_world

OURS = {gauge._name for gauge in GAUGES.values()}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def scrape(client: httpx.AsyncClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The samples of our gauges: name -> labels -> value."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if (
                sample.name in OURS
                or sample.name == "baton_review_gauges_refreshed_timestamp_seconds"
            ):
                found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = (
                    sample.value
                )
    return found


async def incident(
    world: PaymentsWorld, clock: ManualClock, at: datetime, summary: str, ack: int, resolve: int
) -> int:
    clock.set(at)
    incident_id = await world.fire(summary)
    clock.set(at + timedelta(minutes=ack))
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident_id}/acknowledge")
    clock.set(at + timedelta(minutes=resolve))
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident_id}/resolve")
    return incident_id


PAYMENTS = (("service", "payments-api"), ("team", "sre"))
SRE = (("team", "sre"),)


async def test_gauges_after_a_refresh(
    client: httpx.AsyncClient, factory: Factory, db: Database, clock: ManualClock
) -> None:
    world = await build_payments_world(client, factory)
    # Deploys on 20 February (one failed), and long ago (outside 30 days).
    for version, status, day in (
        ("v1", "succeeded", 1),
        ("v2", "succeeded", 20),
        ("v3", "failed", 20),
    ):
        when = utc(2026, 1 if version == "v1" else 2, day, 12, 0)
        await api(
            client,
            world.admin,
            "POST",
            "/api/v1/deployments",
            json={
                "service": "payments-api",
                "version": version,
                "status": status,
                "started_at": when.isoformat(),
                "finished_at": (when + timedelta(minutes=5)).isoformat(),
            },
        )
    # Three incidents in the last 7 days (acknowledged after 1, 3 and 5 minutes; resolved
    # after 10, 40 and 60: the last two are owed a review), one 8 days ago.
    await incident(world, clock, utc(2026, 2, 22, 9, 0), "old", 1, 2)
    first = await incident(world, clock, utc(2026, 2, 24, 9, 0), "one", 1, 10)
    await incident(world, clock, utc(2026, 2, 25, 9, 0), "two", 3, 40)
    await incident(world, clock, utc(2026, 2, 26, 9, 0), "three", 5, 60)
    async with db.transaction() as session:
        review = Review(incident_id=first)
        session.add(review)
        await session.flush()
        session.add_all(
            [
                ActionItem(review_id=review.id, title="late", due_date=date(2026, 3, 1)),
                ActionItem(review_id=review.id, title="later", due_date=date(2026, 3, 2)),
                ActionItem(
                    review_id=review.id,
                    title="done",
                    due_date=date(2026, 2, 1),
                    status=ActionStatus.DONE,
                ),
            ]
        )
    clock.set(utc(2026, 3, 2, 8, 0))

    samples = await refresh_gauges(db)
    assert samples == 8
    found = await scrape(client)
    assert found["baton_service_incidents_7d"] == {PAYMENTS: 3.0}
    assert found["baton_service_mtta_seconds_7d"] == {PAYMENTS: 180.0}
    assert found["baton_service_mttr_seconds_7d"] == {PAYMENTS: 2400.0}
    assert found["baton_service_deploys_30d"] == {PAYMENTS: 2.0}
    assert found["baton_service_change_failure_rate_30d"] == {PAYMENTS: 0.5}
    assert found["baton_team_incidents_7d"] == {SRE: 3.0}
    assert found["baton_team_reviews_owed"] == {SRE: 2.0}
    # Due on 1 March: overdue on the 2nd; due on the 2nd: not yet; done: never.
    assert found["baton_team_action_items_overdue"] == {SRE: 1.0}
    assert found["baton_review_gauges_refreshed_timestamp_seconds"] == {(): clock.now().timestamp()}
    # Services and teams only: no label names a person.
    labels = {name for values in found.values() for key in values for name, _ in key}
    assert labels == {"service", "team"}

    # A scrape reads, it does not compute: a new incident shows after the next refresh.
    await incident(world, clock, utc(2026, 3, 2, 8, 10), "four", 1, 2)
    assert (await scrape(client))["baton_service_incidents_7d"] == {PAYMENTS: 3.0}
    # A renamed team (and a week later) at the next refresh: the old labels are gone.
    await api(
        client, world.admin, "PATCH", f"/api/v1/teams/{world.team['id']}", json={"name": "ops"}
    )
    clock.set(utc(2026, 3, 9, 8, 0))
    await refresh_gauges(db)
    found = await scrape(client)
    renamed = (("service", "payments-api"), ("team", "ops"))
    assert found["baton_service_incidents_7d"] == {renamed: 1.0}
    assert found["baton_service_mtta_seconds_7d"] == {renamed: 60.0}
    assert found["baton_team_incidents_7d"] == {(("team", "ops"),): 1.0}


async def test_a_quiet_service_has_counts_but_no_durations(
    client: httpx.AsyncClient, factory: Factory, db: Database
) -> None:
    await build_payments_world(client, factory)
    await refresh_gauges(db)
    found = await scrape(client)
    assert found["baton_service_incidents_7d"] == {PAYMENTS: 0.0}
    assert found["baton_service_deploys_30d"] == {PAYMENTS: 0.0}
    # Nothing to take a median of, no deploys to fail: no sample rather than a made-up zero.
    assert "baton_service_mtta_seconds_7d" not in found
    assert "baton_service_change_failure_rate_30d" not in found
    assert found["baton_team_reviews_owed"] == {SRE: 0.0}


def test_the_engine_runs_both_jobs(app, db: Database) -> None:
    jobs = Scheduler(db, app.state.dispatcher)._jobs
    assert {"weekly-digest", "metrics-refresh"} <= set(jobs)
