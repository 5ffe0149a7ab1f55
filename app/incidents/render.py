"""Timeline events in words, for the API (and the channels' status lines that repeat them).

Pure: an event in, a sentence out; no database, clock or settings. Every kind registered in
``events.py`` has a renderer here (tests/incidents checks it). Other audiences (Slack blocks,
SMS, e-mail, the web timeline) get renderers of their own beside this one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from app.incidents import events as ev

E = TypeVar("E", bound=ev.Event)

_RENDERERS: dict[type[ev.Event], Callable[[Any], str]] = {}

# A storm's trigger event names this many alerts and counts the rest.
SHOWN_ALERTS = 5


def text(event: ev.Event) -> str:
    """The sentence the API shows for ``event``."""
    return _RENDERERS[type(event)](event)


def renders(cls: type[E]) -> Callable[[Callable[[E], str]], Callable[[E], str]]:
    def register(function: Callable[[E], str]) -> Callable[[E], str]:
        _RENDERERS[cls] = function
        return function

    return register


def rendered_kinds() -> set[ev.EventKind]:
    return {cls.kind for cls in _RENDERERS}


# ---------------------------------------------------------------------------------- helpers


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``1 minute``, ``2 minutes``; ``many`` for irregular plurals."""
    return f"{count} {singular if count == 1 else many or singular + 's'}"


def labels(values: Mapping[str, str]) -> str:
    return ", ".join(f"{name}={value}" for name, value in values.items())


def notification(ref: ev.NotificationRef) -> str:
    """How a notification is named: "Page by webhook to https://hooks.example/… (Ops bridge)".

    A masked webhook address shows only scheme and host, so without a label the contact method
    id is what tells two webhooks of one host apart.
    """
    what = {"page": "Page", "summary": "Summary"}.get(ref.message_kind, ref.message_kind)
    named = f"{what} by {ref.contact_type} to {ref.address}"
    if ref.method_label:
        return f"{named} ({ref.method_label})"
    if ref.contact_type == "webhook" and ref.contact_method_id is not None:
        return f"{named} (contact method {ref.contact_method_id})"
    return named


def step_label(event: ev.StepEvent) -> str:
    label = f"Step {event.step + 1} of {event.steps}"
    if event.passes > 1:
        label += f" (pass {event.loop + 1} of {event.passes})"
    return label


def person_paged(person: ev.PersonPaged) -> str:
    if not person.reachable:
        return f"{person.name} has no verified contact method and cannot be reached"
    plan = ", ".join(
        f"{c.contact_type} {'now' if c.delay_minutes == 0 else f'at +{c.delay_minutes}m'}"
        for c in person.contacts
    )
    return f"{'shadow ' if person.shadow else ''}{person.name}: {plan}"


def _paged(people: Iterable[ev.PersonPaged], channels: Iterable[ev.ChannelPosted] = ()) -> str:
    remarks = [person_paged(p) for p in people]
    remarks += [f"{c.contact_type} {c.address}" for c in channels]
    return "; ".join(remarks)


def alert(ref: ev.AlertRef) -> str:
    """An alert's summary, severity and the labels that tell it from its neighbours."""
    said = ref.summary or ref.dedup_key
    if ref.severity:
        said += f" [{ref.severity}]"
    if ref.labels:
        said += f" ({labels(ref.labels)})"
    return said


# ---------------------------------------------------------------------------- the incident


@renders(ev.Opened)
def _opened(event: ev.Opened) -> str:
    said = f"Incident opened ({event.urgency} urgency) on {event.service_name}: {event.title}"
    return f"{said} — {event.details}" if event.details else said


@renders(ev.NoEscalationPolicy)
def _no_policy(event: ev.NoEscalationPolicy) -> str:
    return f"{event.service_name} has no escalation policy: nobody is paged"


@renders(ev.MaintenanceHold)
def _maintenance_hold(event: ev.MaintenanceHold) -> str:
    why = f" ({event.reason})" if event.reason else ""
    return (
        f"{event.service_name} is in maintenance until {event.until.isoformat()}{why}: "
        "nobody is paged until it ends"
    )


@renders(ev.MaintenanceEnded)
def _maintenance_ended(_: ev.MaintenanceEnded) -> str:
    return "Maintenance ended: escalation starts from the first step"


@renders(ev.Acknowledged)
def _acknowledged(event: ev.Acknowledged) -> str:
    said = f"Acknowledged by {event.by_name} via {event.channel}"
    if event.cancelled:
        said += f"; {plural(event.cancelled, 'pending notification')} cancelled"
    return said


@renders(ev.Unacknowledged)
def _unacknowledged(event: ev.Unacknowledged) -> str:
    return f"Unacknowledged by {event.by_name} via {event.channel}: paging again"


@renders(ev.AckTimeout)
def _ack_timeout(event: ev.AckTimeout) -> str:
    return (
        f"Acknowledged {plural(event.minutes, 'minute')} ago and still not resolved: "
        "triggered again"
    )


@renders(ev.Reassigned)
def _reassigned(event: ev.Reassigned) -> str:
    handed_from = ", ".join(event.from_names) or "nobody"
    said = (
        f"{event.by_name} handed the incident from {handed_from} to {event.to_name} "
        f"via {event.channel}"
    )
    return f"{said}: {event.note}" if event.note else said


@renders(ev.Resolved)
def _resolved(event: ev.Resolved) -> str:
    if event.automatic:
        return f"Resolved automatically: {event.note}" if event.note else "Resolved automatically"
    said = f"Resolved by {event.by_name} via {event.channel}"
    if event.closed_alerts:
        were = "was" if event.closed_alerts == 1 else "were"
        said += (
            f" ({plural(event.closed_alerts, 'alert')} still firing at the source {were} closed)"
        )
    return f"{said}: {event.note}" if event.note else said


@renders(ev.NoteAdded)
def _note(event: ev.NoteAdded) -> str:
    return event.text


@renders(ev.UrgencyChanged)
def _urgency(event: ev.UrgencyChanged) -> str:
    return f"{event.by_name} set urgency to {event.urgency} via {event.channel}"


_DEPLOYER_TOLD = {
    "page": "paged as a responder",
    "notify": "told",
    "responder": "already paged as on call",
    "held": "not told: maintenance holds the incident",
    "off": "",
}


def deploy_phrase(
    version: str, deployer: str, minutes: int, previous_version: str, *, ago: str = "before"
) -> str:
    """ "deploy v1.4.2 by dina 12 min before (previous v1.4.1)": the words every channel uses."""
    said = f"deploy {version}"
    if deployer:
        said += f" by {deployer}"
    said += f" {minutes} min {ago}"
    if previous_version:
        said += f" (previous {previous_version})"
    return said


@renders(ev.DeployNearby)
def _deploy_nearby(event: ev.DeployNearby) -> str:
    where = f" to {event.environment}" if event.environment else ""
    said = "Opened after " + deploy_phrase(
        event.version + where, event.deployer_name, event.minutes_before, event.previous_version
    )
    told = _DEPLOYER_TOLD[event.deployer_told]
    if told and event.deployer_name:
        said += f"; {event.deployer_name} {told}"
    return said


@renders(ev.DeployConfirmed)
def _deploy_confirmed(event: ev.DeployConfirmed) -> str:
    said = f"{event.by_name} confirmed deploy {event.version} as the cause via {event.channel}"
    return f"{said}: {event.note}" if event.note else said


@renders(ev.DeployRejected)
def _deploy_rejected(event: ev.DeployRejected) -> str:
    said = f"{event.by_name} judged deploy {event.version} not related via {event.channel}"
    return f"{said}: {event.note}" if event.note else said


@renders(ev.EngineError)
def _engine_error(event: ev.EngineError) -> str:
    return (
        f"The engine failed to {event.operation} this incident; retrying in "
        f"{event.retry_in_seconds}s"
    )


# ---------------------------------------------------------------------------------- alerts


@renders(ev.AlertTriggered)
def _alert_triggered(event: ev.AlertTriggered) -> str:
    if event.count == 1 and event.alerts:
        return f"Alert triggered: {alert(event.alerts[0])}"
    shown = "; ".join(alert(a) for a in event.alerts[:SHOWN_ALERTS])
    more = event.count - min(len(event.alerts), SHOWN_ALERTS)
    return f"{event.count} alerts triggered: {shown}" + (f"; and {more} more" if more else "")


@renders(ev.AlertRepeated)
def _alert_repeated(event: ev.AlertRepeated) -> str:
    return f"Alert seen again ({plural(event.seen_count, 'time')}): {alert(event.alert)}"


@renders(ev.AlertResolved)
def _alert_resolved(event: ev.AlertResolved) -> str:
    return f"Alert resolved at the source: {alert(event.alert)}"


@renders(ev.AlertsTruncated)
def _alerts_truncated(event: ev.AlertsTruncated) -> str:
    return (
        f"The source left {plural(event.truncated, 'alert')} out of its message (max_alerts): "
        "this incident does not show every alert of the group"
    )


# ------------------------------------------------------------------------------ escalation


@renders(ev.Escalated)
def _escalated(event: ev.Escalated) -> str:
    said = f"{step_label(event)} ({event.reason}): paged {_paged(event.paged, event.channels)}"
    return said + (" — low urgency: no further escalation" if event.low_urgency else "")


def timer_escalation(event: ev.Escalated) -> str:
    """What the channels showing the incident hear when a step timed out and the next was paged."""
    waited = "" if event.waited_minutes is None else f" after {event.waited_minutes} min"
    return f"No acknowledgement{waited}: escalated to step {event.step + 1}"


@renders(ev.StepEmpty)
def _step_empty(event: ev.StepEmpty) -> str:
    return f"{step_label(event)} has nobody on call; moving on at once"


@renders(ev.EscalationExhausted)
def _exhausted(event: ev.EscalationExhausted) -> str:
    if event.because is ev.ExhaustedBecause.ALL_STEPS_EMPTY:
        return "Nobody could be paged: every step of the escalation policy is empty"
    if event.because is ev.ExhaustedBecause.NO_STEPS:
        return "Nothing to escalate to: the escalation policy has no steps"
    waited = (
        f"within {plural(event.waited_minutes, 'minute')} "
        if event.waited_minutes is not None
        else ""
    )
    return (
        f"Nobody acknowledged {waited}of the last step; the escalation policy is exhausted and "
        "the incident stays triggered"
    )


@renders(ev.EscalateRequested)
def _escalate_requested(event: ev.EscalateRequested) -> str:
    return f"{event.by_name} escalated to the next step via {event.channel}"


@renders(ev.Paged)
def _paged_directly(event: ev.Paged) -> str:
    return f"Paged {_paged(event.paged)}"


# --------------------------------------------------------------------------- notifications

_UNKNOWN = "outcome unknown: the sender stopped before recording the result"


@renders(ev.NotificationQueued)
def _queued(event: ev.NotificationQueued) -> str:
    return f"{notification(event.notification)} queued for {event.due_at.isoformat()}"


@renders(ev.NotificationSent)
def _sent(event: ev.NotificationSent) -> str:
    said = f"{notification(event.notification)} sent"
    # "Page by webhook to … sent via webhook" says nothing twice.
    if event.provider != event.notification.contact_type:
        said += f" via {event.provider}"
    return said


@renders(ev.NotificationStatus)
def _status(event: ev.NotificationStatus) -> str:
    said = (
        f"{notification(event.notification)}: {event.provider.capitalize()} reports "
        f"{event.provider_status}"
    )
    if event.error_code:
        said += f" (error {event.error_code})"
    if event.already:
        said += f"; already {event.already}"
    if event.late:
        said += " (late; not going back)"
    return said


@renders(ev.NotificationRetry)
def _retry(event: ev.NotificationRetry) -> str:
    named = notification(event.notification)
    if event.because is ev.RetryBecause.OUTCOME_UNKNOWN:
        return f"{named}: {_UNKNOWN}; sending it again (the receiver deduplicates)"
    if event.because is ev.RetryBecause.POSSIBLE_DUPLICATE:
        return (
            f"{named}: {_UNKNOWN}, and nothing else would reach anyone; sending it once more, "
            "marked as a possible duplicate"
        )
    said = f"{named} failed temporarily ({event.reason}); attempt {event.attempt}"
    if event.max_attempts is not None:
        said += f" of {event.max_attempts}"
    if event.retry_in_seconds is not None:
        said += f", retrying in {event.retry_in_seconds}s"
    return said


@renders(ev.NotificationFailed)
def _failed(event: ev.NotificationFailed) -> str:
    return f"{notification(event.notification)} failed: {event.reason}"


@renders(ev.NotificationBlocked)
def _blocked(event: ev.NotificationBlocked) -> str:
    return f"{notification(event.notification)} blocked: {event.reason}"


@renders(ev.NotificationBundled)
def _bundled(event: ev.NotificationBundled) -> str:
    return (
        f"{notification(event.notification)}: more than {plural(event.limit, 'message')} in "
        f"{event.window_minutes} min to this address, so it is folded into one summary of "
        f"{plural(event.bundled, 'page')}"
    )


@renders(ev.NotificationFallthrough)
def _fallthrough(event: ev.NotificationFallthrough) -> str:
    return f"{notification(event.notification)} moved up to now: the previous channel failed"


@renders(ev.EscalationBroughtForward)
def _brought_forward(event: ev.EscalationBroughtForward) -> str:
    return (
        f"{notification(event.notification)} may not have arrived and the person has no later "
        "rule: escalating to the next step now"
    )
