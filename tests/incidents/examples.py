"""One event of every kind, with every field set to something a reader would notice."""

from __future__ import annotations

from datetime import UTC, datetime

from app.incidents import events as ev

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

ALICE = {"by_user_id": 1, "by_name": "Alice", "channel": ev.Channel.SLACK}

SMS = ev.NotificationRef(
    id=7,
    message_kind="page",
    contact_type="sms",
    contact_method_id=3,
    address="+…0123",
)
WEBHOOK = ev.NotificationRef(
    id=8,
    message_kind="page",
    contact_type="webhook",
    contact_method_id=4,
    address="https://hooks.example.com/…",
    method_label="Ops bridge",
)
ALERT = ev.AlertRef(
    alert_id=11,
    dedup_key="f00d",
    summary="HighLatency on checkout",
    severity="critical",
    labels={"instance": "10.0.0.1:9090"},
)
PAGED_ALICE = ev.PersonPaged(
    user_id=1,
    name="Alice",
    contacts=(
        ev.PlannedContact(contact_type="sms", delay_minutes=0),
        ev.PlannedContact(contact_type="email", delay_minutes=5),
    ),
)
PAGED_BOB_SHADOW = ev.PersonPaged(
    user_id=2,
    name="Bob",
    shadow=True,
    contacts=(ev.PlannedContact(contact_type="slack", delay_minutes=0),),
)
UNREACHABLE_CAROL = ev.PersonPaged(user_id=3, name="Carol")

EXAMPLES: dict[ev.EventKind, ev.Event] = {
    e.kind: e
    for e in (
        ev.Opened(
            **ALICE,
            service_id=5,
            service_name="checkout",
            title="p99 latency above 2s",
            urgency="high",
            details="since the 10:00 deploy",
        ),
        ev.AlertTriggered(count=1, alerts=(ALERT,), sources=("10.0.0.1:9090",)),
        ev.AlertRepeated(alert=ALERT, seen_count=3),
        ev.AlertResolved(alert=ALERT, ended_at=AT),
        ev.AlertsTruncated(truncated=12),
        ev.NoEscalationPolicy(service_name="checkout"),
        ev.MaintenanceHold(service_name="checkout", until=AT, reason="db upgrade"),
        ev.MaintenanceEnded(),
        ev.Escalated(
            step=1,
            loop=0,
            steps=2,
            passes=2,
            reason="no acknowledgement after 5 min",
            responders=(1, 3),
            shadows=(2,),
            paged=(PAGED_ALICE, UNREACHABLE_CAROL, PAGED_BOB_SHADOW),
            channels=(ev.ChannelPosted(contact_type="slack", address="#ops"),),
            next_escalation_at=AT,
            last_step=True,
        ),
        ev.StepEmpty(step=0, loop=0, steps=2, passes=1),
        ev.EscalationExhausted(because=ev.ExhaustedBecause.UNACKNOWLEDGED, waited_minutes=10),
        ev.EscalateRequested(**ALICE),
        ev.Paged(user_id=1, paged=(PAGED_ALICE,)),
        ev.NotificationQueued(notification=SMS, due_at=AT),
        ev.NotificationSent(notification=SMS, provider="twilio", provider_message_id="SM1"),
        ev.NotificationStatus(
            notification=SMS,
            provider="twilio",
            provider_status="undelivered",
            provider_message_id="SM1",
            error_code="30003",
            already="failed",
        ),
        ev.NotificationRetry(
            notification=WEBHOOK,
            because=ev.RetryBecause.TEMPORARY_FAILURE,
            attempt=2,
            max_attempts=5,
            retry_in_seconds=10,
            reason="HTTP 503",
        ),
        ev.NotificationFailed(
            notification=SMS,
            reason="Twilio reports failed",
            attempts=1,
            provider="twilio",
            provider_message_id="SM1",
        ),
        ev.NotificationBlocked(
            notification=WEBHOOK, reason="blocked by network policy", attempts=1
        ),
        ev.NotificationBundled(
            notification=SMS, summary_id=9, limit=4, window_minutes=5, bundled=47
        ),
        ev.NotificationFallthrough(notification=SMS),
        ev.EscalationBroughtForward(notification=SMS),
        ev.Acknowledged(**ALICE, cancelled=2),
        ev.Unacknowledged(**ALICE),
        ev.AckTimeout(minutes=30),
        ev.Reassigned(
            **ALICE, from_=(1, 3), from_names=("Alice", "Carol"), to=2, to_name="Bob", note="yours"
        ),
        ev.Resolved(**ALICE, automatic=False, note="rolled back", closed_alerts=2),
        ev.NoteAdded(**ALICE, text="restarted the pods"),
        ev.UrgencyChanged(**ALICE, urgency="low", previous="high"),
        ev.DeployNearby(
            deployment_id=7,
            version="v1.4.2",
            previous_version="v1.4.1",
            environment="production",
            deployer_user_id=4,
            deployer_name="Dina",
            deployed_at=AT,
            minutes_before=12,
            deployer_told="notify",
        ),
        ev.DeployConfirmed(**ALICE, deployment_id=7, version="v1.4.2", note="bad migration"),
        ev.DeployRejected(**ALICE, deployment_id=7, version="v1.4.2"),
        ev.EngineError(operation="escalate", retry_in_seconds=30),
    )
}
