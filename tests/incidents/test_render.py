"""The API's words for every event kind, including the phrasings that used to read badly."""

from __future__ import annotations

import dataclasses

import pytest

from app.incidents import events as ev
from app.incidents import render
from tests.incidents.examples import ALERT, ALICE, AT, EXAMPLES, SMS, WEBHOOK

K = ev.EventKind

EXPECTED: dict[ev.EventKind, str] = {
    K.OPENED: (
        "Incident opened (high urgency) on checkout: p99 latency above 2s — since the 10:00 deploy"
    ),
    K.ALERT_TRIGGERED: (
        "Alert triggered: HighLatency on checkout [critical] (instance=10.0.0.1:9090)"
    ),
    K.ALERT_REPEATED: (
        "Alert seen again (3 times): HighLatency on checkout [critical] (instance=10.0.0.1:9090)"
    ),
    K.ALERT_RESOLVED: (
        "Alert resolved at the source: HighLatency on checkout [critical] (instance=10.0.0.1:9090)"
    ),
    K.ALERTS_TRUNCATED: (
        "The source left 12 alerts out of its message (max_alerts): this incident does not "
        "show every alert of the group"
    ),
    K.NO_ESCALATION_POLICY: "checkout has no escalation policy: nobody is paged",
    K.MAINTENANCE_HOLD: (
        "checkout is in maintenance until 2026-03-02T10:00:00+00:00 (db upgrade): nobody is "
        "paged until it ends"
    ),
    K.MAINTENANCE_ENDED: "Maintenance ended: escalation starts from the first step",
    K.ESCALATED: (
        "Step 2 of 2 (pass 1 of 2) (no acknowledgement after 5 min): paged Alice: sms now, "
        "email at +5m; Carol has no verified contact method and cannot be reached; "
        "shadow Bob: slack now; slack #ops"
    ),
    K.STEP_EMPTY: "Step 1 of 2 has nobody on call; moving on at once",
    K.ESCALATION_EXHAUSTED: (
        "Nobody acknowledged within 10 minutes of the last step; the escalation policy is "
        "exhausted and the incident stays triggered"
    ),
    K.ESCALATE_REQUESTED: "Alice escalated to the next step via slack",
    K.PAGED: "Paged Alice: sms now, email at +5m",
    K.NOTIFICATION_QUEUED: "Page by sms to +…0123 queued for 2026-03-02T10:00:00+00:00",
    K.NOTIFICATION_SENT: "Page by sms to +…0123 sent via twilio",
    K.NOTIFICATION_STATUS: (
        "Page by sms to +…0123: Twilio reports undelivered (error 30003); already failed"
    ),
    K.NOTIFICATION_RETRY: (
        "Page by webhook to https://hooks.example.com/… (Ops bridge) failed temporarily "
        "(HTTP 503); attempt 2 of 5, retrying in 10s"
    ),
    K.NOTIFICATION_FAILED: "Page by sms to +…0123 failed: Twilio reports failed",
    K.NOTIFICATION_BLOCKED: (
        "Page by webhook to https://hooks.example.com/… (Ops bridge) blocked: blocked by "
        "network policy"
    ),
    K.NOTIFICATION_BUNDLED: (
        "Page by sms to +…0123: more than 4 messages in 5 min to this address, so it is folded "
        "into one summary of 47 pages"
    ),
    K.NOTIFICATION_FALLTHROUGH: (
        "Page by sms to +…0123 moved up to now: the previous channel failed"
    ),
    K.ESCALATION_BROUGHT_FORWARD: (
        "Page by sms to +…0123 may not have arrived and the person has no later rule: "
        "escalating to the next step now"
    ),
    K.ACKNOWLEDGED: "Acknowledged by Alice via slack; 2 pending notifications cancelled",
    K.UNACKNOWLEDGED: "Unacknowledged by Alice via slack: paging again",
    K.ACK_TIMEOUT: "Acknowledged 30 minutes ago and still not resolved: triggered again",
    K.REASSIGNED: "Alice handed the incident from Alice, Carol to Bob via slack: yours",
    K.RESOLVED: (
        "Resolved by Alice via slack (2 alerts still firing at the source were closed): rolled back"
    ),
    K.NOTE: "restarted the pods",
    K.URGENCY_CHANGED: "Alice set urgency to low via slack",
    K.DEPLOY_NEARBY: (
        "Opened after deploy v1.4.2 to production by Dina 12 min before (previous v1.4.1); "
        "Dina told"
    ),
    K.DEPLOY_CONFIRMED: "Alice confirmed deploy v1.4.2 as the cause via slack: bad migration",
    K.DEPLOY_REJECTED: "Alice judged deploy v1.4.2 not related via slack",
    K.ENGINE_ERROR: "The engine failed to escalate this incident; retrying in 30s",
}


def test_every_registered_kind_has_words() -> None:
    assert render.rendered_kinds() == set(ev.registered())
    assert set(EXPECTED) == set(ev.EventKind)


@pytest.mark.parametrize("kind", list(ev.EventKind))
def test_words_of_every_kind(kind: ev.EventKind) -> None:
    assert render.text(EXAMPLES[kind]) == EXPECTED[kind]


def _sms(address: str = "+…0123", **changes: object) -> ev.NotificationRef:
    return dataclasses.replace(SMS, address=address, **changes)


@pytest.mark.parametrize(
    ("event", "text"),
    [
        # One of something is not "1 somethings".
        (
            ev.AckTimeout(minutes=1),
            "Acknowledged 1 minute ago and still not resolved: triggered again",
        ),
        (
            ev.EscalationExhausted(because=ev.ExhaustedBecause.UNACKNOWLEDGED, waited_minutes=1),
            "Nobody acknowledged within 1 minute of the last step; the escalation policy is "
            "exhausted and the incident stays triggered",
        ),
        (
            ev.Acknowledged(**ALICE, cancelled=1),
            "Acknowledged by Alice via slack; 1 pending notification cancelled",
        ),
        (ev.Acknowledged(**ALICE), "Acknowledged by Alice via slack"),
        (
            ev.Resolved(**ALICE, automatic=False, closed_alerts=1),
            "Resolved by Alice via slack (1 alert still firing at the source was closed)",
        ),
        (
            ev.Resolved(
                by_user_id=None,
                by_name="Baton",
                channel=ev.Channel.INTEGRATION,
                automatic=True,
                note="every alert resolved at the source",
            ),
            "Resolved automatically: every alert resolved at the source",
        ),
        (
            ev.AlertsTruncated(truncated=1),
            "The source left 1 alert out of its message (max_alerts): this incident does not "
            "show every alert of the group",
        ),
        (
            ev.NotificationBundled(
                notification=_sms(), summary_id=9, limit=1, window_minutes=1, bundled=2
            ),
            "Page by sms to +…0123: more than 1 message in 1 min to this address, so it is "
            "folded into one summary of 2 pages",
        ),
        (
            ev.Reassigned(**ALICE, from_=(), from_names=(), to=2, to_name="Bob"),
            "Alice handed the incident from nobody to Bob via slack",
        ),
        (
            ev.Escalated(
                step=0,
                loop=0,
                steps=1,
                passes=1,
                reason="incident opened",
                responders=(1,),
                shadows=(),
                paged=(ev.PersonPaged(user_id=1, name="Alice", contacts=()),),
                low_urgency=True,
            ),
            "Step 1 of 1 (incident opened): paged Alice has no verified contact method and "
            "cannot be reached — low urgency: no further escalation",
        ),
    ],
)
def test_counts_read_as_people_say_them(event: ev.Event, text: str) -> None:
    assert render.text(event) == text


def _webhook(method_id: int, label: str = "") -> ev.NotificationRef:
    return dataclasses.replace(WEBHOOK, contact_method_id=method_id, method_label=label)


def test_two_webhooks_of_one_host_read_differently() -> None:
    """A masked webhook address is its scheme and host: the label or the method tells them
    apart, and "sent via webhook" after "by webhook" says nothing."""
    labelled = [
        render.text(ev.NotificationSent(notification=_webhook(4, label), provider="webhook"))
        for label in ("Ops bridge", "Status page")
    ]
    assert labelled == [
        "Page by webhook to https://hooks.example.com/… (Ops bridge) sent",
        "Page by webhook to https://hooks.example.com/… (Status page) sent",
    ]
    unlabelled = {
        render.text(ev.NotificationSent(notification=_webhook(m), provider="webhook"))
        for m in (4, 5)
    }
    assert unlabelled == {
        "Page by webhook to https://hooks.example.com/… (contact method 4) sent",
        "Page by webhook to https://hooks.example.com/… (contact method 5) sent",
    }
    # A labelled phone says its label; an unlabelled one reads as it always did.
    sms = ev.NotificationSent(notification=_sms(method_label="work"), provider="twilio")
    assert render.text(sms) == "Page by sms to +…0123 (work) sent via twilio"


def test_resolved_alerts_that_differ_by_instance_read_differently() -> None:
    lines = [
        render.text(
            ev.AlertResolved(
                alert=dataclasses.replace(ALERT, severity="", labels={"instance": instance}),
                ended_at=AT,
            )
        )
        for instance in ("a:9090", "b:9090", "c:9090")
    ]
    assert lines == [
        "Alert resolved at the source: HighLatency on checkout (instance=a:9090)",
        "Alert resolved at the source: HighLatency on checkout (instance=b:9090)",
        "Alert resolved at the source: HighLatency on checkout (instance=c:9090)",
    ]


def test_a_storm_names_five_alerts_and_counts_the_rest() -> None:
    alerts = tuple(
        ev.AlertRef(alert_id=None, dedup_key=f"k{i}", summary=f"disk full on db{i}")
        for i in range(20)
    )
    said = render.text(ev.AlertTriggered(count=47, alerts=alerts))
    assert said == (
        "47 alerts triggered: disk full on db0; disk full on db1; disk full on db2; "
        "disk full on db3; disk full on db4; and 42 more"
    )
