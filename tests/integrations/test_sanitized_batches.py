"""The gateway's sanitizing of what sources send: an unsafe character anywhere, however deep,
is replaced; a batch with none is handed on as it is (storms mostly are)."""

from __future__ import annotations

from app.alerts.grouping import AlertAction, InboundAlert, InboundBatch
from app.core.validation import REPLACEMENT
from app.integrations.formats.common import sanitized


def alert(details: dict[str, object], link_text: str = "runbook") -> InboundAlert:
    return InboundAlert(
        dedup_key="db-1/disk",
        action=AlertAction.TRIGGER,
        summary="disk full on db-1",
        severity="critical",
        source="node-exporter",
        details=details,
        links=({"href": "https://runbooks.example/disk", "text": link_text},),
    )


def nested(leaf: str) -> dict[str, object]:
    return {"labels": {"host": "db-1"}, "trace": [{"frames": ["main", leaf]}, 3, None, 1.5]}


def test_a_clean_batch_is_handed_on_unchanged() -> None:
    batch = InboundBatch(alerts=(alert(nested("write")),), group_key="g", group_title="disk")
    assert sanitized(batch) is batch


def test_an_unsafe_character_deep_in_details_is_replaced_and_the_rest_kept() -> None:
    clean = alert(nested("write"))
    batch = InboundBatch(alerts=(clean, alert(nested("wr\x1bite"))), group_key="g")
    result = sanitized(batch)
    assert result.alerts[0] is clean
    assert result.alerts[1].details == nested(f"wr{REPLACEMENT}ite")
    assert batch.alerts[1].details == nested("wr\x1bite"), "what was sent is not changed"


def test_unsafe_characters_in_keys_links_and_the_group_are_replaced() -> None:
    batch = InboundBatch(
        alerts=(alert({"lo\x00g": "x"}, link_text="run\u202ebook"),),
        group_key="g\x00",
        group_title="disk\nfull",
    )
    result = sanitized(batch)
    assert result.alerts[0].details == {f"lo{REPLACEMENT}g": "x"}
    assert result.alerts[0].links[0]["text"] == f"run{REPLACEMENT}book"
    assert (result.group_key, result.group_title) == (f"g{REPLACEMENT}", "disk full")


def test_one_bad_byte_at_the_bottom_of_the_deepest_body_costs_its_size() -> None:
    """Each level is sanitized once: checking a part and then copying it would double the work
    at every level, 2^60 at the depth a body may reach."""
    deep: object = "bad\x00"
    for level in range(60):
        deep = {"level": level, "next": [deep, "ok"]}
    batch = InboundBatch(alerts=(alert({"deep": deep}),))
    cleaned: object = sanitized(batch).alerts[0].details["deep"]
    for level in reversed(range(60)):
        assert isinstance(cleaned, dict) and cleaned["level"] == level
        assert cleaned["next"][1] == "ok"
        cleaned = cleaned["next"][0]
    assert cleaned == f"bad{REPLACEMENT}"
