"""How inbound alerts become incidents (alerts/grouping.py): severities, urgency, titles, and
the labels that tell one alert of a group from the others.

The label examples of whole batches live in tests/alerts/test_alert_labels.py; these are
the rules one at a time, and properties over any batch.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.alerts.grouping import (
    _SEVERITY_ALIASES,
    IDENTITY_LABELS,
    MAX_DISTINGUISHING_LABELS,
    SEVERITIES,
    AlertAction,
    InboundAlert,
    InboundBatch,
    distinguishing_labels,
    incident_title,
    normalize_severity,
    says,
    urgency_for,
    varying_labels,
)

# -- severity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "severity"),
    [
        (None, ""),
        ("", ""),
        ("critical", "critical"),
        ("error", "error"),
        ("warning", "warning"),
        ("info", "info"),
        # Case and surrounding spaces do not matter.
        ("  CRITICAL ", "critical"),
        ("Warning", "warning"),
        # What other tools call them.
        ("P1", "critical"),
        ("sev2", "error"),
        ("warn", "warning"),
        ("low", "info"),
        ("none", "info"),
        # Anything else is unknown, not guessed.
        ("disaster", ""),
        ("p5", ""),
        ("crit ical", ""),
    ],
)
def test_normalize_severity(raw: str | None, severity: str) -> None:
    assert normalize_severity(raw) == severity


def test_every_alias_names_a_known_severity() -> None:
    assert set(_SEVERITY_ALIASES.values()) <= set(SEVERITIES)
    for alias, severity in _SEVERITY_ALIASES.items():
        assert normalize_severity(alias.upper()) == severity


# -- urgency -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "severities", "urgency"),
    [
        # A fixed rule ignores the alerts' severities.
        ("high", ["info"], "high"),
        ("high", [], "high"),
        ("low", ["critical"], "low"),
        ("low", [], "low"),
        # "severity": only an all-warning/info group is low.
        ("severity", ["warning"], "low"),
        ("severity", ["info", "warning", "warn", "p4"], "low"),
        ("severity", ["warning", "error"], "high"),
        ("severity", ["critical"], "high"),
        # Unknown or missing severities page: missing a page is worse than an extra one.
        ("severity", ["warning", ""], "high"),
        ("severity", ["warning", "disaster"], "high"),
        ("severity", [], "high"),
    ],
)
def test_urgency_for(rule: str, severities: list[str], urgency: str) -> None:
    assert urgency_for(rule, severities) == urgency


def test_urgency_reads_any_iterable_once() -> None:
    assert urgency_for("severity", (s for s in ["info", "warning"])) == "low"


# -- titles ------------------------------------------------------------------------------------


def alert(summary: str) -> InboundAlert:
    return InboundAlert(dedup_key=summary, action=AlertAction.TRIGGER, summary=summary)


@pytest.mark.parametrize(
    ("group_title", "summaries", "title"),
    [
        (None, ["checkout 5xx above 5%"], "checkout 5xx above 5%"),
        (None, ["disk full", "cpu hot"], "disk full (+1 more alerts)"),
        (None, ["a", "b", "c", "d"], "a (+3 more alerts)"),
        # The source's own title for the group wins over the alerts' summaries.
        (
            "HighLatency on payments-api (3 alerts)",
            ["a", "b"],
            "HighLatency on payments-api (3 alerts)",
        ),
        ("HighLatency", ["a"], "HighLatency"),
        # Runs of white space, new lines included, become one space.
        (None, ["  checkout\n\tdown  now "], "checkout down now"),
        ("  grouped\ntitle ", ["a"], "grouped title"),
    ],
)
def test_incident_title(group_title: str | None, summaries: list[str], title: str) -> None:
    batch = InboundBatch(alerts=(), group_title=group_title)
    assert incident_title(batch, [alert(s) for s in summaries]) == title


@pytest.mark.parametrize(
    ("length", "clipped"),
    [(1023, False), (1024, False), (1025, True), (5000, True)],
)
def test_titles_are_clipped_to_1024_characters(length: int, clipped: bool) -> None:
    summary = "x" * length
    title = incident_title(InboundBatch(alerts=()), [alert(summary)])
    assert len(title) == min(length, 1024)
    assert title.endswith("…") is clipped


# -- distinguishing labels ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label_sets", "varying"),
    [
        ([], frozenset()),
        # One alone differs from nothing.
        ([{"instance": "a", "job": "api"}], frozenset()),
        ([{"instance": "a"}, {"instance": "a"}], frozenset()),
        ([{"instance": "a", "job": "api"}, {"instance": "b", "job": "api"}], {"instance"}),
        # A label only some of them carry sets those apart.
        ([{"instance": "a"}, {"instance": "a", "zone": "eu"}], {"zone"}),
        ([{"zone": "eu"}, {}], {"zone"}),
    ],
)
def test_varying_labels(label_sets: list[dict[str, str]], varying: set[str]) -> None:
    assert varying_labels(label_sets) == varying


def test_varying_labels_reads_any_iterable_once() -> None:
    sets = iter([{"pod": "p-1"}, {"pod": "p-2"}])
    assert varying_labels(sets) == {"pod"}


@pytest.mark.parametrize(
    ("labels", "varying", "summary", "shown"),
    [
        # Varying identity labels in IDENTITY_LABELS order, then other varying ones by name.
        (
            {"zone": "eu", "pod": "p-1", "instance": "i-1", "app": "x"},
            {"zone", "pod", "instance", "app"},
            "",
            {"instance": "i-1", "pod": "p-1", "app": "x", "zone": "eu"},
        ),
        # At most four labels.
        (
            {"instance": "i", "pod": "p", "host": "h", "node": "n", "job": "j"},
            {"instance", "pod", "host", "node", "job"},
            "",
            {"instance": "i", "pod": "p", "host": "h", "node": "n"},
        ),
        # The alert's name and severity are said elsewhere on the line, even when they vary.
        (
            {"alertname": "A", "severity": "critical", "instance": "i"},
            {"alertname", "severity", "instance"},
            "",
            {"instance": "i"},
        ),
        # Nothing of it varies: its first identity label it has, in IDENTITY_LABELS order.
        ({"job": "api", "host": "h-1"}, set(), "", {"host": "h-1"}),
        ({"service": "checkout"}, set(), "", {}),
        # ...skipping one the summary says already.
        ({"instance": "i-1", "pod": "p-1"}, set(), "slow on i-1", {"pod": "p-1"}),
        # Something of it varies but is said already: nothing added, no fallback either.
        ({"instance": "i-1", "pod": "p-1"}, {"instance"}, "slow on i-1", {}),
        ({"severity": "warning", "instance": "i-1"}, {"severity"}, "", {}),
        # "Said" means as a word of its own, not inside a longer one.
        ({"pod": "p-1"}, {"pod"}, "p-10 is slow", {"pod": "p-1"}),
        ({"pod": "p-1"}, {"pod"}, "xp-1 is slow", {"pod": "p-1"}),
        # Word characters are letters, digits and "_": a hyphen ends a word.
        ({"pod": "p-1"}, {"pod"}, "x-p-1 is slow", {}),
        ({"pod": "p-1"}, {"pod"}, "slow (p-1)", {}),
        ({"pod": "p-1"}, {"pod"}, "p-1", {}),
        # An empty value is never "said".
        ({"zone": ""}, {"zone"}, "anything", {"zone": ""}),
        # Varying names that the alert does not carry are not invented.
        ({"instance": "i-1"}, {"pod"}, "", {"instance": "i-1"}),
    ],
)
def test_distinguishing_labels(
    labels: dict[str, str], varying: set[str], summary: str, shown: dict[str, str]
) -> None:
    result = distinguishing_labels(labels, frozenset(varying), summary)
    assert result == shown
    assert list(result) == list(shown), "the order labels are shown in"


def test_label_values_are_shown_on_one_line_and_clipped() -> None:
    shown = distinguishing_labels({"instance": "i" * 300}, frozenset({"instance"}))
    assert len(shown["instance"]) == 200 and shown["instance"].endswith("…")
    assert distinguishing_labels({"zone": " eu\n west "}, frozenset({"zone"})) == {
        "zone": "eu west"
    }
    assert distinguishing_labels({"zone": "z" * 200}, frozenset({"zone"})) == {"zone": "z" * 200}


# -- properties ------------------------------------------------------------------------------

label_names = st.sampled_from([*IDENTITY_LABELS, "alertname", "severity", "zone", "service", "app"])
# No white space in values: a shown value is then the value itself (see the clipping test).
label_values = st.text(alphabet="abc-1", max_size=5)
label_sets = st.lists(st.dictionaries(label_names, label_values, max_size=6), max_size=6)


@given(label_sets, st.text(alphabet="abc-1 ", max_size=12))
def test_shown_labels_are_the_alerts_own_and_few(batch: list[dict[str, str]], summary: str) -> None:
    varying = varying_labels(batch)
    for labels in batch:
        shown = distinguishing_labels(labels, varying, summary)
        assert len(shown) <= MAX_DISTINGUISHING_LABELS
        assert not shown.keys() & {"alertname", "severity"}
        assert all(labels[name] == value for name, value in shown.items())


@given(label_sets)
def test_what_varies_does_not_depend_on_the_order_of_the_batch(
    batch: list[dict[str, str]],
) -> None:
    assert varying_labels(batch) == varying_labels(list(reversed(batch)))
    assert varying_labels(batch) <= {name for labels in batch for name in labels}


@given(st.lists(st.text(alphabet="abcdef", min_size=1, max_size=4), min_size=2, unique=True))
def test_alerts_that_differ_only_by_instance_are_told_apart(instances: list[str]) -> None:
    """The fix for three identical "HighLatency on checkout" lines."""
    batch = [{"alertname": "HighLatency", "service": "checkout", "instance": i} for i in instances]
    varying = varying_labels(batch)
    shown = [distinguishing_labels(labels, varying, "HighLatency on checkout") for labels in batch]
    assert shown == [{"instance": i} for i in instances]


# -- "the summary already says it" ---------------------------------------------------------------


def _says_by_pattern(text: str, value: str) -> bool:
    return bool(value) and re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text) is not None


@pytest.mark.parametrize(
    ("text", "value", "said"),
    [
        ("db-7 is down", "db-7", True),
        ("db-70 is down", "db-7", False),
        ("xdb-7 is down", "db-7", False),
        ("disk on db-7", "db-7", True),
        ("db-7", "db-7", True),
        ("db-7_old and db-7.", "db-7", True),  # the second one stands alone
        ("db-7_old", "db-7", False),
        ("naïve-7 ok", "ïve-7", False),  # a letter outside ASCII is part of the word
        ("shard 3 is unhappy", "3", True),
        ("shard 33 is unhappy", "3", False),
        ("anything", "", False),
        ("a.b (c.d)", "c.d", True),
    ],
)
def test_says_finds_a_value_only_as_a_word_of_its_own(text: str, value: str, said: bool) -> None:
    assert says(text, value) is said
    assert _says_by_pattern(text, value) is said


@given(
    st.text(alphabet="ab-_.é7 ", max_size=30),
    st.text(alphabet="ab-_.é7 ", max_size=5),
)
def test_says_agrees_with_the_word_boundary_pattern(text: str, value: str) -> None:
    assert says(text, value) is _says_by_pattern(text, value)
