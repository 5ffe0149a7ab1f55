"""The review draft folds an incident's typed events: who was paged when and how, the
acknowledgement and after how long, escalations, hand-offs, the resolution, alerts with their
labels, the deploy nearby and its verdict, the notes, and every entry in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.incidents import events as ev
from app.incidents.events import Channel
from app.review import draft
from app.review.draft import Recorded

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _history() -> list[Recorded]:
    alice = ev.PersonPaged(
        user_id=1,
        name="Alice",
        contacts=(
            ev.PlannedContact(contact_type="sms", delay_minutes=0),
            ev.PlannedContact(contact_type="voice", delay_minutes=5),
        ),
    )
    bob = ev.PersonPaged(
        user_id=2, name="Bob", contacts=(ev.PlannedContact(contact_type="email", delay_minutes=0),)
    )
    page = ev.NotificationRef(
        id=7, message_kind="page", contact_type="sms", contact_method_id=3, address="+4915…89"
    )
    history: list[tuple[float, ev.Event]] = [
        (
            0,
            ev.AlertTriggered(
                count=1,
                alerts=(
                    ev.AlertRef(
                        alert_id=1,
                        dedup_key="latency-eu",
                        summary="p99 latency above 2s",
                        severity="critical",
                        labels={"region": "eu-west-1"},
                    ),
                ),
            ),
        ),
        (
            0,
            ev.Opened(
                by_user_id=None,
                by_name="",
                channel=Channel.INTEGRATION,
                service_id=1,
                service_name="payments-api",
                title="p99 latency above 2s",
                urgency="high",
            ),
        ),
        (
            0,
            ev.DeployNearby(
                deployment_id=9,
                version="v1.4.2",
                previous_version="v1.4.1",
                environment="production",
                deployer_name="dina",
                deployed_at=at(-12),
                minutes_before=12,
                deployer_told="notify",
            ),
        ),
        (
            0,
            ev.Escalated(
                step=0,
                loop=0,
                steps=2,
                passes=1,
                reason="incident opened",
                responders=(1,),
                shadows=(),
                paged=(alice,),
                cause=ev.EscalationCause.OPENED,
            ),
        ),
        (0.1, ev.NotificationSent(notification=page, provider="twilio")),
        (
            5,
            ev.Escalated(
                step=1,
                loop=0,
                steps=2,
                passes=1,
                reason="nobody acknowledged step 1 within 5 minutes",
                responders=(2,),
                shadows=(),
                paged=(bob,),
                cause=ev.EscalationCause.TIMED_OUT,
                waited_minutes=5,
            ),
        ),
        (7, ev.Acknowledged(by_user_id=2, by_name="Bob", channel=Channel.SMS)),
        (
            9,
            ev.Reassigned(
                by_user_id=2,
                by_name="Bob",
                channel=Channel.SLACK,
                from_=(2,),
                from_names=("Bob",),
                to=1,
                to_name="Alice",
                note="Alice knows the cache",
            ),
        ),
        (9, ev.Paged(user_id=1, paged=(alice,), reason="handed the incident by Bob")),
        (20, ev.NoteAdded(by_user_id=1, by_name="Alice", channel=Channel.WEB, text="rolled back")),
        (
            25,
            ev.DeployConfirmed(
                by_user_id=1,
                by_name="Alice",
                channel=Channel.WEB,
                deployment_id=9,
                version="v1.4.2",
            ),
        ),
        (
            42,
            ev.Resolved(by_user_id=1, by_name="Alice", channel=Channel.WEB, automatic=False),
        ),
    ]
    return [Recorded(at(m), e.kind.value, e) for m, e in history]


def test_the_draft_holds_the_whole_timeline() -> None:
    folded = draft.fold(_history())

    assert folded.started_at == T0 and folded.opened_at == T0
    assert (folded.title, folded.service_name, folded.urgency) == (
        "p99 latency above 2s",
        "payments-api",
        "high",
    )
    assert [(p.at, p.name, p.channels, p.step) for p in folded.pages] == [
        (T0, "Alice", ("sms now", "voice at +5m"), 1),
        (at(5), "Bob", ("email now",), 2),
        (at(9), "Alice", ("sms now", "voice at +5m"), None),
    ]
    assert [(n.contact_type, n.outcome) for n in folded.notifications] == [("sms", "sent")]
    assert [(a.name, a.channel, a.after_seconds) for a in folded.acknowledgements] == [
        ("Bob", "sms", 7 * 60)
    ]
    assert [(s.step, s.cause, s.responders) for s in folded.escalations] == [
        (1, "opened", ("Alice",)),
        (2, "timed_out", ("Bob",)),
    ]
    assert [(r.by, r.from_names, r.to_name) for r in folded.reassignments] == [
        ("Bob", ("Bob",), "Alice")
    ]
    assert folded.resolution is not None
    assert (folded.resolution.by, folded.resolution.after_seconds) == ("Alice", 42 * 60)
    assert folded.seconds_to_acknowledge == 420 and folded.seconds_to_resolve == 2520
    assert [(a.summary, a.severity, a.labels) for a in folded.alerts] == [
        ("p99 latency above 2s", "critical", {"region": "eu-west-1"})
    ]
    (deploy,) = folded.deploys
    assert (deploy.version, deploy.minutes_before, deploy.verdict, deploy.judged_by) == (
        "v1.4.2",
        12,
        "confirmed",
        "Alice",
    )
    assert [(n.by, n.text) for n in folded.notes] == [("Alice", "rolled back")]
    # Every row is a line of the timeline, in words.
    assert len(folded.timeline) == len(_history())
    assert folded.timeline[-1].text.startswith("Resolved by Alice")
    assert all(entry.text for entry in folded.timeline)


def test_rows_are_folded_by_instant_and_equal_instants_keep_their_order() -> None:
    history = _history()
    shuffled = history[5:] + history[:5]
    assert draft.fold(shuffled) == draft.fold(history)
    assert [e.kind for e in draft.fold(history).timeline][:4] == [
        "alert_triggered",
        "opened",
        "deploy_nearby",
        "escalated",
    ]


def test_an_incident_opened_by_hand_starts_at_its_opening_and_old_rows_keep_their_words() -> None:
    rows = [
        Recorded(
            at(0),
            "opened",
            ev.Opened(
                by_user_id=1,
                by_name="Alice",
                channel=Channel.WEB,
                service_id=1,
                service_name="payments-api",
                title="checkout is slow",
                urgency="low",
            ),
        ),
        Recorded(at(3), "note", None, "Legacy words from before typed events"),
        Recorded(
            at(4),
            "resolved",
            ev.Resolved(by_user_id=None, by_name="", channel=Channel.SYSTEM, automatic=True),
        ),
    ]
    folded = draft.fold(rows)
    assert folded.started_at == T0 and folded.alerts == ()
    assert folded.opened_by == "Alice"
    assert folded.timeline[1].text == "Legacy words from before typed events"
    assert folded.resolution is not None and folded.resolution.automatic
    assert folded.resolution.by == "" and folded.seconds_to_acknowledge is None
    assert draft.opening_summary(folded) == (
        "payments-api: checkout is slow. Resolved by itself after 4 min."
    )


def test_a_rejected_deploy_stays_listed_with_its_verdict() -> None:
    rows = [r for r in _history() if r.kind != "deploy_confirmed"]
    rows.append(
        Recorded(
            at(30),
            "deploy_rejected",
            ev.DeployRejected(
                by_user_id=2,
                by_name="Bob",
                channel=Channel.SLACK,
                deployment_id=9,
                version="v1.4.2",
            ),
        )
    )
    (deploy,) = draft.fold(rows).deploys
    assert (deploy.verdict, deploy.judged_by) == ("rejected", "Bob")


def test_durations_read_as_people_say_them() -> None:
    assert [draft.minutes(s) for s in (None, 40, 60, 42 * 60, 3900)] == [
        "",
        "40 s",
        "1 min",
        "42 min",
        "1 h 05 min",
    ]
