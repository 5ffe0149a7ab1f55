"""The pure metrics: definitions on hand-made facts, the DORA band table, and properties over
random histories (order of events, adjacent windows, MTTA <= MTTR, load buckets)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.incidents.events import (
    Acknowledged,
    AlertRef,
    AlertTriggered,
    Channel,
    Escalated,
    Event,
    Opened,
    Resolved,
)
from app.review import metrics
from app.review.metrics import DeployFacts, IncidentFacts, Interruption
from app.schedules.load import LoadCategory
from app.schedules.oncall import Shift

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
MIN = timedelta(minutes=1)


def _opened(service_id: int = 1) -> Opened:
    return Opened(
        by_user_id=None,
        by_name="",
        channel=Channel.INTEGRATION,
        service_id=service_id,
        service_name="payments-api",
        title="latency",
        urgency="high",
    )


def _ack(user_id: int = 7) -> Acknowledged:
    return Acknowledged(by_user_id=user_id, by_name="Alice", channel=Channel.API)


def _resolved(automatic: bool = False) -> Resolved:
    return Resolved(
        by_user_id=None if automatic else 7,
        by_name="" if automatic else "Alice",
        channel=Channel.INTEGRATION if automatic else Channel.API,
        automatic=automatic,
    )


def _escalated(step: int, loop: int = 0) -> Escalated:
    return Escalated(
        step=step, loop=loop, steps=2, passes=1, reason="", responders=(7,), shadows=()
    )


def _alert(name: str, key: str) -> AlertTriggered:
    return AlertTriggered(
        count=1,
        alerts=(
            AlertRef(
                alert_id=1, dedup_key=key, summary=f"{name} fired", labels={"alertname": name}
            ),
        ),
    )


def _incident(incident_id: int, opened: datetime, *rest: tuple[timedelta, Event]) -> IncidentFacts:
    events: list[tuple[datetime, Event]] = [(opened, _opened())]
    events += [(opened + delta, event) for delta, event in rest]
    return metrics.fold_incident(incident_id, 1, events)


# ------------------------------------------------------------------------------ definitions


def test_mtta_and_mttr_are_median_p90_and_mean_of_the_window() -> None:
    incidents = [
        _incident(1, T0 + timedelta(hours=10), (2 * MIN, _ack()), (30 * MIN, _resolved())),
        _incident(2, T0 + timedelta(hours=11), (4 * MIN, _ack()), (60 * MIN, _resolved())),
        _incident(3, T0 + timedelta(hours=12), (12 * MIN, _ack()), (90 * MIN, _resolved())),
        # Resolved by nobody acknowledging: in MTTR, not in MTTA.
        _incident(4, T0 + timedelta(hours=13), (20 * MIN, _resolved())),
        # Outside the window.
        _incident(5, T0 - MIN, (1 * MIN, _ack()), (2 * MIN, _resolved())),
    ]
    stats = metrics.incident_stats(incidents, T0, T0 + timedelta(days=1), "UTC")
    assert stats.incidents == 4
    assert stats.mtta == metrics.Summary(3, 240.0, 720.0, 360.0)
    assert stats.mttr == metrics.Summary(4, 2700.0, 5400.0, 3000.0)
    assert (stats.acknowledged, stats.resolved) == (3, 4)


def test_escalation_flapping_out_of_hours_and_noisiest_alerts() -> None:
    night = T0 + timedelta(hours=3)  # Monday 03:00 UTC
    incidents = [
        _incident(1, night, (0 * MIN, _alert("Latency", "k1")), (4 * MIN, _resolved(True))),
        _incident(2, night, (0 * MIN, _alert("Latency", "k2")), (6 * MIN, _resolved(True))),
        _incident(
            3,
            T0 + timedelta(hours=10),
            (0 * MIN, _alert("Disk", "k1")),
            (0 * MIN, _escalated(0)),
            (5 * MIN, _escalated(1)),
            (7 * MIN, _ack()),
            (8 * MIN, _resolved()),
        ),
        # A person resolving within 5 minutes is not flapping.
        _incident(4, T0 + timedelta(hours=10), (3 * MIN, _resolved())),
    ]
    stats = metrics.incident_stats(incidents, T0, T0 + timedelta(days=1), "UTC")
    assert (stats.escalated, stats.escalation_rate) == (1, 0.25)
    assert stats.flapping == 1
    assert (stats.out_of_hours, stats.out_of_hours_share) == (2, 0.5)
    assert stats.noisiest_alerts == (
        metrics.AlertCount("Latency", 2),
        metrics.AlertCount("Disk", 1),
    )
    assert stats.noisiest_dedup_keys == (metrics.AlertCount("k1", 2), metrics.AlertCount("k2", 1))
    # Tokyo is 9 hours ahead: 03:00 UTC is noon there, 10:00 UTC is 19:00 (evening).
    tokyo = metrics.incident_stats(incidents, T0, T0 + timedelta(days=1), "Asia/Tokyo")
    assert tokyo.out_of_hours == 2


def test_an_acknowledgement_after_the_resolution_does_not_count() -> None:
    facts = _incident(1, T0, (5 * MIN, _resolved()), (9 * MIN, _ack()))
    assert facts.time_to_acknowledge is None
    assert facts.time_to_resolve == 300.0


@pytest.mark.parametrize(
    ("at", "category"),
    [
        (datetime(2026, 3, 2, 8, 59, tzinfo=UTC), LoadCategory.NIGHT),
        (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), LoadCategory.BUSINESS),
        (datetime(2026, 3, 2, 17, 0, tzinfo=UTC), LoadCategory.EVENING),
        (datetime(2026, 3, 2, 22, 0, tzinfo=UTC), LoadCategory.NIGHT),
        (datetime(2026, 3, 7, 12, 0, tzinfo=UTC), LoadCategory.WEEKEND),
        (datetime(2026, 3, 9, 0, 0, tzinfo=UTC), LoadCategory.NIGHT),
    ],
)
def test_categories_of_an_instant_follow_the_load_module(
    at: datetime, category: LoadCategory
) -> None:
    assert metrics.category_at(at, "UTC") is category


def test_the_band_table_is_one_cited_report() -> None:
    assert metrics.DORA_YEAR == 2023
    assert "2023" in metrics.DORA_REPORT
    assert {row.metric for row in metrics.DORA_BANDS} == {
        "deployment_frequency",
        "change_lead_time",
        "change_failure_rate",
        "failed_deployment_recovery_time",
    }
    for metric in {row.metric for row in metrics.DORA_BANDS}:
        bands = [row.band for row in metrics.DORA_BANDS if row.metric == metric]
        assert bands == ["elite", "high", "medium", "low"]


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        ("deployment_frequency", 3.0, "elite"),
        ("deployment_frequency", 1.0, "elite"),
        ("deployment_frequency", 0.5, "high"),
        ("deployment_frequency", 1 / 7, "high"),
        ("deployment_frequency", 0.05, "medium"),
        ("deployment_frequency", 0.01, "low"),
        ("change_lead_time", 3_600.0, "elite"),
        ("change_lead_time", 86_400.0, "high"),
        ("change_lead_time", 10 * 86_400.0, "medium"),
        ("change_lead_time", 40 * 86_400.0, "low"),
        ("change_failure_rate", 0.05, "elite"),
        ("change_failure_rate", 0.1, "high"),
        ("change_failure_rate", 0.15, "medium"),
        ("change_failure_rate", 0.5, "low"),
        ("failed_deployment_recovery_time", 3_599.0, "elite"),
        ("failed_deployment_recovery_time", 3_600.0, "high"),
        ("failed_deployment_recovery_time", 86_400.0, "medium"),
        ("failed_deployment_recovery_time", 8 * 86_400.0, "low"),
        ("change_failure_rate", None, None),
    ],
)
def test_bands(metric: str, value: float | None, expected: str | None) -> None:
    assert metrics.band(metric, value) == expected


def _deploy(
    deployment_id: int,
    at: datetime,
    status: str = "succeeded",
    *,
    committed: timedelta | None = None,
    caused: tuple[datetime | None, ...] = (),
    finished: datetime | None = None,
) -> DeployFacts:
    return DeployFacts(
        deployment_id=deployment_id,
        service_id=1,
        environment="production",
        status=status,
        started_at=at,
        finished_at=finished or at,
        committed_at=at - committed if committed is not None else None,
        caused_incident=bool(caused),
        caused_resolved=caused,
    )


def test_dora_counts_failed_changes_and_their_recovery() -> None:
    day = timedelta(days=1)
    deploys = [
        _deploy(1, T0 + timedelta(hours=1), committed=timedelta(hours=2)),
        # Caused an incident resolved 40 minutes later.
        _deploy(
            2,
            T0 + day,
            committed=timedelta(hours=6),
            caused=(T0 + day + 40 * MIN,),
        ),
        # Failed: recovered by the next successful deploy 3 hours later.
        _deploy(3, T0 + 2 * day, "failed"),
        _deploy(4, T0 + 2 * day + timedelta(hours=3), committed=timedelta(hours=1)),
        # Rolled back 20 minutes after it started.
        _deploy(5, T0 + 3 * day, "rolled_back", finished=T0 + 3 * day + 20 * MIN),
        # Failed with nothing after it: not recovered.
        _deploy(6, T0 + 9 * day, "failed"),
    ]
    found = metrics.dora(deploys, T0, T0 + 10 * day)
    assert found.deployments == 6
    assert found.deployments_per_day == 0.6
    assert found.deployment_frequency_band == "high"
    assert found.change_lead_time == metrics.Summary(3, 7200.0, 21600.0, 10800.0)
    assert found.change_lead_time_band == "elite"
    assert (found.failed_changes, found.change_failure_rate) == (4, 4 / 6)
    assert found.change_failure_rate_band == "low"
    assert found.recovery_time.count == 3
    assert found.recovery_time.median == 2400.0  # 20 min, 40 min, 3 h
    assert found.unrecovered == 1
    assert found.recovery_time_band == "elite"


def test_a_person_load_splits_interruptions_in_their_own_zone() -> None:
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    times = [
        monday + timedelta(hours=14),  # 10:00 in New York: business
        monday + timedelta(hours=23),  # 19:00: evening
        monday + timedelta(hours=31),  # Tuesday 03:00: night
        monday + timedelta(days=5, hours=16),  # Saturday: weekend
    ]
    items = [Interruption(7, n + 1, "sms" if n % 2 else "email", at) for n, at in enumerate(times)]
    shift = Shift(monday, monday + timedelta(days=7), 7, False, "layer", 1)
    load = metrics.person_load(
        7,
        name="Alice",
        time_zone="America/New_York",
        kind="ops",
        interruptions=items,
        shifts=[shift],
        since=monday,
        until=monday + timedelta(days=28),
    )
    assert (load.business, load.evening, load.night, load.weekend) == (1, 1, 1, 1)
    assert load.by_channel == {"email": 2, "sms": 2}
    assert load.on_call_hours == 168.0
    assert load.shifts == 14.0
    assert load.pages_per_shift == 4 / 14
    assert load.on_call_share == 0.25
    assert not load.over_on_call_share
    assert not load.over_pages_per_shift


# ------------------------------------------------------------------------------- properties

_offsets = st.integers(min_value=0, max_value=60 * 24 * 14 - 1)  # minutes into a fortnight


@st.composite
def _histories(draw: st.DrawFn) -> list[tuple[int, list[tuple[datetime, Event]]]]:
    histories = []
    for incident_id in range(1, draw(st.integers(0, 12)) + 1):
        opened = T0 + timedelta(minutes=draw(_offsets))
        events: list[tuple[datetime, Event]] = [(opened, _opened())]
        if draw(st.booleans()):
            events.append(
                (opened, _alert(draw(st.sampled_from("ABC")), draw(st.sampled_from("xyz"))))
            )
        for step in range(draw(st.integers(0, 3))):
            events.append((opened + step * 5 * MIN, _escalated(step % 2, step // 2)))
        ack = draw(st.none() | st.integers(0, 600))
        if ack is not None:
            events.append((opened + ack * MIN, _ack()))
        resolve = draw(st.none() | st.integers(0, 900))
        if resolve is not None:
            events.append((opened + resolve * MIN, _resolved(draw(st.booleans()))))
        histories.append((incident_id, events))
    return histories


def _fold(histories: list[tuple[int, list[tuple[datetime, Event]]]]) -> list[IncidentFacts]:
    return [metrics.fold_incident(i, 1, events) for i, events in histories]


@settings(max_examples=200, deadline=None)
@given(_histories(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_the_order_events_arrive_in(
    histories: list[tuple[int, list[tuple[datetime, Event]]]], shuffler: random.Random
) -> None:
    shuffled = []
    for incident_id, events in histories:
        copy = list(events)
        shuffler.shuffle(copy)
        shuffled.append((incident_id, copy))
    shuffler.shuffle(shuffled)
    window = (T0, T0 + timedelta(days=14))
    by_id = {f.incident_id: f for f in _fold(histories)}
    assert {f.incident_id: f for f in _fold(shuffled)} == by_id
    assert metrics.incident_stats(_fold(shuffled), *window, "UTC") == metrics.incident_stats(
        _fold(histories), *window, "UTC"
    )
    assert metrics.series(_fold(shuffled), *window, "UTC") == metrics.series(
        _fold(histories), *window, "UTC"
    )


@settings(max_examples=200, deadline=None)
@given(_histories())
def test_mtta_is_at_most_mttr_for_every_incident(
    histories: list[tuple[int, list[tuple[datetime, Event]]]],
) -> None:
    for facts in _fold(histories):
        if facts.time_to_acknowledge is not None and facts.time_to_resolve is not None:
            assert facts.time_to_acknowledge <= facts.time_to_resolve


_interruptions = st.lists(
    st.builds(
        Interruption,
        user_id=st.sampled_from([1, 2]),
        incident_id=st.integers(1, 20),
        contact_type=st.sampled_from(["sms", "email", "voice"]),
        at=_offsets.map(lambda m: T0 + timedelta(minutes=m)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    _histories(),
    _interruptions,
    st.lists(_offsets, max_size=6),
    st.integers(1, 60 * 24 * 14 - 1),
)
def test_additive_counts_over_two_adjacent_windows_sum_to_the_whole(
    histories: list[tuple[int, list[tuple[datetime, Event]]]],
    interruptions: list[Interruption],
    deploy_minutes: list[int],
    cut_minutes: int,
) -> None:
    start, end = T0, T0 + timedelta(days=14)
    cut = T0 + timedelta(minutes=cut_minutes)
    facts = _fold(histories)
    deploys = [
        _deploy(n, T0 + timedelta(minutes=m), "failed" if n % 3 == 0 else "succeeded")
        for n, m in enumerate(deploy_minutes)
    ]
    people = {1: ("Alice", "Europe/Paris", "ops"), 2: ("Bob", "UTC", "dev")}

    def additive(since: datetime, until: datetime) -> list[int]:
        stats = metrics.incident_stats(facts, since, until, "Europe/Paris")
        load = metrics.load_stats(people, interruptions, [], since, until)
        found = metrics.dora(deploys, since, until)
        return [
            stats.incidents,
            stats.acknowledged,
            stats.resolved,
            stats.escalated,
            stats.flapping,
            stats.out_of_hours,
            load.interruptions,
            *(
                getattr(p, b)
                for p in load.people
                for b in ("business", "evening", "night", "weekend")
            ),
            found.deployments,
            found.failed_changes,
        ]

    whole = additive(start, end)
    parts = [a + b for a, b in zip(additive(start, cut), additive(cut, end), strict=True)]
    assert parts == whole


@settings(max_examples=150, deadline=None)
@given(_interruptions, st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Europe/Paris"]))
def test_a_person_load_buckets_sum_to_their_total(
    interruptions: list[Interruption], zone: str
) -> None:
    load = metrics.person_load(
        1,
        name="Alice",
        time_zone=zone,
        kind="ops",
        interruptions=interruptions,
        shifts=[],
        since=T0,
        until=T0 + timedelta(days=14),
    )
    assert load.business + load.evening + load.night + load.weekend == load.interruptions
    assert sum(load.by_channel.values()) == load.interruptions
    assert load.interruptions == sum(1 for i in interruptions if i.user_id == 1)
