"""The launch-requirement rules and the handback criteria, each on both sides of its bound."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from app.readiness import checklist
from app.readiness.checklist import (
    DEFAULT_ITEMS,
    Band,
    HandbackThresholds,
    Item,
    ItemKind,
    LoadFacts,
    ServiceFacts,
    SignOff,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def ready() -> ServiceFacts:
    """A service that meets every default item."""
    return ServiceFacts(
        now=NOW,
        support_model="dev",
        owner_team="payments",
        owner_team_members=3,
        runbook_url="https://runbooks.example/payments",
        policy="payments",
        policy_steps=2,
        schedules=("payments-primary",),
        uncovered_minutes={"payments-primary": 0.0},
        developers_on_rotation=("Alice",),
        alerts_via_integration=1,
        deploys_reported=1,
        dev_since=NOW - timedelta(weeks=6),
        pages=24,
        shifts=12.0,
        reviews_owed=0,
        overdue_items=0,
        deploys_in_failure_window=10,
        change_failure_rate=0.15,
        change_failure_rate_band="medium",
        sign_offs={
            item.key: SignOff("Alice", date(2026, 5, 1), "")
            for item in DEFAULT_ITEMS
            if item.kind is ItemKind.SIGN_OFF
        },
    )


def result(facts: ServiceFacts, key: str) -> checklist.Result:
    evaluation = checklist.evaluate(DEFAULT_ITEMS, facts)
    return next(r for r in evaluation.results if r.key == key)


def test_the_default_checklist_sums_to_100_and_a_ready_service_passes() -> None:
    assert checklist.problems(DEFAULT_ITEMS) == []
    evaluation = checklist.evaluate(DEFAULT_ITEMS, ready())
    assert (evaluation.score, evaluation.band) == (100, Band.PASSING)
    assert evaluation.handover_allowed


@pytest.mark.parametrize(
    ("key", "met", "unmet"),
    [
        ("owner_team", {"owner_team_members": 1}, {"owner_team_members": 0}),
        ("runbook", {"runbook_url": "https://x.example"}, {"runbook_url": ""}),
        ("escalation_policy", {"policy_steps": 2}, {"policy_steps": 1}),
        (
            "schedule_coverage",
            {"uncovered_minutes": {"payments-primary": 0.0}},
            {"uncovered_minutes": {"payments-primary": 1.0}},
        ),
        (
            "developer_on_rotation",
            {"developers_on_rotation": ("A",)},
            {"developers_on_rotation": ()},
        ),
        ("integration_alerts", {"alerts_via_integration": 1}, {"alerts_via_integration": 0}),
        ("deploy_events", {"deploys_reported": 1}, {"deploys_reported": 0}),
        (
            "self_managed",
            {"dev_since": NOW - timedelta(weeks=6)},
            {"dev_since": NOW - timedelta(weeks=6) + timedelta(seconds=1)},
        ),
        # 2 pages per shift is allowed; a little more is not.
        ("pager_load", {"pages": 24, "shifts": 12.0}, {"pages": 25, "shifts": 12.0}),
        ("reviews_current", {"reviews_owed": 0, "overdue_items": 0}, {"reviews_owed": 1}),
        ("reviews_current", {"overdue_items": 0}, {"overdue_items": 1}),
        (
            "change_failure_rate",
            {"change_failure_rate": 0.15, "change_failure_rate_band": "medium"},
            {"change_failure_rate": 0.16, "change_failure_rate_band": "low"},
        ),
    ],
)
def test_each_automatic_item_on_both_sides_of_its_bound(
    key: str, met: dict[str, object], unmet: dict[str, object]
) -> None:
    assert result(replace(ready(), **met), key).met  # type: ignore[arg-type]
    assert not result(replace(ready(), **unmet), key).met  # type: ignore[arg-type]


def test_evidence_gives_the_figures() -> None:
    facts = replace(ready(), pages=41, shifts=12.0)
    said = result(facts, "pager_load").evidence
    assert said.startswith("3.4 pages per shift over the last 28 days: 41 pages in 12 shifts")
    assert "(at most 2)" in said
    gaps = result(replace(ready(), uncovered_minutes={"primary": 90.0}), "schedule_coverage")
    assert gaps.evidence == "gaps in the next 14 days: primary: 90 min uncovered"
    assert not result(replace(ready(), policy=None, policy_steps=0), "escalation_policy").met
    assert result(replace(ready(), dev_since=None), "self_managed").evidence == (
        "supported by Ops, not run by its developers"
    )


def test_a_window_shorter_than_a_shift_counts_as_one() -> None:
    young = replace(ready(), pages=2, shifts=0.01)
    assert result(young, "pager_load").evidence.startswith(
        "2.0 pages per shift over the last 28 days: 2 pages in 1 shift"
    )
    assert result(young, "pager_load").met
    assert not result(replace(young, pages=3), "pager_load").met
    assert "pager_load" in {
        b.key
        for b in checklist.breaches(replace(quiet(), pages=3, shifts=0.2), HandbackThresholds())
    }


def test_the_bands_at_their_edges() -> None:
    assert checklist.band_of(49, True) is Band.FAILING
    assert checklist.band_of(50, False) is Band.NEEDS_ATTENTION
    assert checklist.band_of(99, False) is Band.NEEDS_ATTENTION
    assert checklist.band_of(95, True) is Band.PASSING
    assert checklist.band_of(100, True) is Band.PASSING


def test_optional_items_lower_the_score_but_do_not_block_the_hand_over() -> None:
    facts = replace(ready(), deploys_reported=0)
    evaluation = checklist.evaluate(DEFAULT_ITEMS, facts)
    assert evaluation.score == 95
    assert evaluation.band is Band.PASSING
    assert evaluation.handover_allowed
    facts = replace(ready(), runbook_url="")
    evaluation = checklist.evaluate(DEFAULT_ITEMS, facts)
    assert (evaluation.score, evaluation.band) == (95, Band.NEEDS_ATTENTION)
    assert [r.key for r in evaluation.failing_required] == ["runbook"]


def test_a_team_extends_and_overrides_the_organisation() -> None:
    team = [
        Item(
            "pager_load",
            "At most 1 page per shift",
            ItemKind.AUTOMATIC,
            10,
            params={"max_pages_per_shift": 1},
        ),
        Item("pci", "PCI review", ItemKind.SIGN_OFF, 5),
    ]
    merged = checklist.merge(DEFAULT_ITEMS, team)
    assert [i.key for i in merged][-1] == "pci"
    assert len(merged) == len(DEFAULT_ITEMS) + 1
    assert checklist.problems(merged) == ["the weights sum to 105, not 100"]
    facts = replace(ready(), pages=13, shifts=12.0)
    pager = next(r for r in checklist.evaluate(merged, facts).results if r.key == "pager_load")
    assert not pager.met and "(at most 1)" in pager.evidence


def test_checklist_problems() -> None:
    bad = [
        Item("a", "A", ItemKind.SIGN_OFF, 101),
        Item("a", "A again", ItemKind.SIGN_OFF, -1),
        Item("b", "B", ItemKind.AUTOMATIC, 0, check="telepathy"),
        Item("c", "C", ItemKind.AUTOMATIC, 0, check="pager_load", params={"speed": 1}),
    ]
    found = checklist.problems(bad)
    assert "item 'a': weight 101 is outside 0-100" in found
    assert "item 'a' appears twice" in found
    assert any("no automatic check 'telepathy'" in p for p in found)
    assert "item 'c': pager_load takes no 'speed'" in found
    assert "the weights sum to 100, not 100" not in found


def test_changes_between_evaluations() -> None:
    before = checklist.evaluate(DEFAULT_ITEMS, replace(ready(), alerts_via_integration=0)).results
    after = checklist.evaluate(DEFAULT_ITEMS, ready()).results
    changed = checklist.changes(before, after)
    assert [(c.key, c.was_met, c.met) for c in changed] == [("integration_alerts", False, True)]


# ---------------------------------------------------------------------------------- handback


def quiet() -> LoadFacts:
    return LoadFacts(
        since=NOW - timedelta(days=14),
        until=NOW,
        pages=56,
        shifts=28.0,
        sleep_pages=4,
        mttr_seconds=1800.0,
        resolved=10,
        mttr_before_seconds=1200.0,
        resolved_before=10,
        deploys=10,
        change_failure_rate=0.15,
        change_failure_rate_band="medium",
        overdue_items=0,
    )


@pytest.mark.parametrize(
    ("key", "within", "beyond"),
    [
        ("pager_load", {"pages": 56}, {"pages": 57}),
        ("sleep_pages", {"sleep_pages": 4}, {"sleep_pages": 5}),
        # +50 % is allowed, +50.1 % is not.
        ("mttr", {"mttr_seconds": 1800.0}, {"mttr_seconds": 1801.2}),
        (
            "change_failure_rate",
            {"change_failure_rate_band": "medium"},
            {"change_failure_rate": 0.2, "change_failure_rate_band": "low"},
        ),
        ("overdue_items", {"overdue_items": 0}, {"overdue_items": 1}),
    ],
)
def test_each_handback_criterion_on_both_sides_of_its_bound(
    key: str, within: dict[str, object], beyond: dict[str, object]
) -> None:
    limits = HandbackThresholds()
    assert key not in {b.key for b in checklist.breaches(replace(quiet(), **within), limits)}  # type: ignore[arg-type]
    assert key in {b.key for b in checklist.breaches(replace(quiet(), **beyond), limits)}  # type: ignore[arg-type]


def test_handback_evidence_and_configured_limits() -> None:
    found = checklist.breaches(replace(quiet(), pages=70, sleep_pages=9), HandbackThresholds())
    by_key = {b.key: b.evidence for b in found}
    assert (
        by_key["pager_load"] == "2.5 pages per shift over the last 14 days: 70 pages in 28 shifts"
    )
    assert by_key["sleep_pages"].startswith("9 pages in sleep hours")
    strict = HandbackThresholds(max_sleep_pages=10, overdue_action_items=False)
    assert "sleep_pages" not in {
        b.key for b in checklist.breaches(replace(quiet(), sleep_pages=9), strict)
    }
    assert checklist.breaches(replace(quiet(), overdue_items=3), strict) == []
    # No earlier MTTR to compare with: no MTTR breach.
    assert (
        checklist.breaches(replace(quiet(), mttr_before_seconds=None, mttr_seconds=9e9), strict)
        == []
    )


def test_sleep_hours_are_on_the_responder_clock() -> None:
    # 13:30 UTC is 22:30 in Tokyo (asleep) and 09:30 in New York (awake).
    at = datetime(2026, 6, 1, 13, 30, tzinfo=UTC)
    assert checklist.sleep_hour(at, "Asia/Tokyo")
    assert not checklist.sleep_hour(at, "America/New_York")
    assert checklist.sleep_hour(datetime(2026, 6, 1, 8, 59, tzinfo=UTC), "UTC")
    assert not checklist.sleep_hour(datetime(2026, 6, 1, 9, 0, tzinfo=UTC), "UTC")
    assert not checklist.sleep_hour(datetime(2026, 6, 1, 21, 59, tzinfo=UTC), "UTC")
    assert checklist.sleep_hour(datetime(2026, 6, 1, 22, 0, tzinfo=UTC), "UTC")
