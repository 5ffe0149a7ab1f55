"""Which labels a timeline line shows to tell an alert from its neighbours (alerts/grouping.py)."""

from __future__ import annotations

import pytest

from app.alerts.grouping import alert_labels, distinguishing_labels, varying_labels

BASE = {"alertname": "HighLatency", "service": "checkout", "severity": "critical"}


def _with(**labels: str) -> dict[str, str]:
    return {**BASE, **labels}


@pytest.mark.parametrize(
    ("batch", "summary", "shown"),
    [
        # Three instances of one alert: the instance is what differs.
        (
            [_with(instance="a"), _with(instance="b"), _with(instance="c")],
            "HighLatency on checkout",
            [{"instance": "a"}, {"instance": "b"}, {"instance": "c"}],
        ),
        # Alone in its message: the first identity label it has.
        ([_with(instance="a", job="api")], "HighLatency on checkout", [{"instance": "a"}]),
        # Nothing that identifies it: nothing to add.
        ([BASE], "HighLatency on checkout", [{}]),
        # The summary already names what differs: not said twice.
        (
            [_with(pod="p-1"), _with(pod="p-2")],
            "p99 high on p-1",
            [{}, {"pod": "p-2"}],
        ),
        # Severity is shown on its own, the alert's name is the summary's business.
        (
            [_with(severity="warning", instance="a"), _with(instance="a")],
            "HighLatency on checkout",
            [{}, {}],
        ),
        # A label only some alerts carry sets those apart; identity labels come first.
        (
            [_with(instance="a", zone="eu"), _with(instance="b")],
            "HighLatency on checkout",
            [{"instance": "a", "zone": "eu"}, {"instance": "b"}],
        ),
    ],
)
def test_distinguishing_labels(
    batch: list[dict[str, str]], summary: str, shown: list[dict[str, str]]
) -> None:
    varying = varying_labels(batch)
    assert [distinguishing_labels(labels, varying, summary) for labels in batch] == shown


def test_labels_are_read_only_where_the_source_has_them() -> None:
    assert alert_labels({"labels": {"instance": "a", "bad": 3}}) == {"instance": "a"}
    assert alert_labels({"component": "db"}) == {}
    assert alert_labels({"labels": "instance=a"}) == {}
