"""The review draft: an incident's typed events folded into what a review shows.

Pure: the events in (with when each was recorded), a :class:`Draft` out; no database, clock or
settings. Who was paged when and through which channel, who acknowledged and after how long,
escalations, reassignments, the resolution, the alerts and their labels, the deploys nearby and
what responders judged of them, the notes, and every entry of the timeline in words (the API's
sentences, from ``render.py``). The values a review page or export needs beside the draft (the
review's own texts, the action items, the deploys as stored) are here too, as plain values, so
the export needs no database either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from app.incidents import events as ev
from app.incidents import render

# What a judgement says of a deploy, as the deploys' verdict names it.
SUSPECTED = "suspected"
CONFIRMED = "confirmed"
REJECTED = "rejected"


@dataclass(frozen=True)
class Recorded:
    """One timeline row: its event (None for an old row the migration could not type, whose
    stored words are then ``message``)."""

    at: datetime
    kind: str
    event: ev.Event | None
    message: str = ""


@dataclass(frozen=True)
class Entry:
    """A line of the review's timeline."""

    at: datetime
    kind: str
    text: str
    by: str = ""  # who acted, as they were named then ("" for Baton itself)
    channel: str = ""  # how it reached Baton (web, slack, sms, ...)


@dataclass(frozen=True)
class PageEntry:
    """A person paged, and the channels their own rules planned for it."""

    at: datetime
    user_id: int
    name: str
    channels: tuple[str, ...]  # "sms now", "voice at +5m", ...; empty: unreachable
    step: int | None  # 1-based step of the policy; None: paged by name or handed the incident
    shadow: bool = False
    reason: str = ""


@dataclass(frozen=True)
class NotificationEntry:
    """A message that went out (or failed to) for the incident."""

    at: datetime
    contact_type: str
    address: str  # masked, as on the timeline
    outcome: str  # sent, failed, blocked, bundled
    message_kind: str = "page"


@dataclass(frozen=True)
class AckEntry:
    at: datetime
    user_id: int | None
    name: str
    channel: str
    after_seconds: int  # from the incident's start


@dataclass(frozen=True)
class EscalationEntry:
    at: datetime
    step: int  # 1-based
    steps: int
    reason: str
    cause: str  # opened, timed_out, requested, ... ("" on old rows)
    responders: tuple[str, ...]


@dataclass(frozen=True)
class ReassignEntry:
    at: datetime
    by: str
    from_names: tuple[str, ...]
    to_name: str
    note: str = ""


@dataclass(frozen=True)
class Resolution:
    at: datetime
    by: str  # "" when it resolved by itself
    automatic: bool
    channel: str
    after_seconds: int  # from the incident's start
    note: str = ""


@dataclass(frozen=True)
class AlertEntry:
    at: datetime
    summary: str
    dedup_key: str
    severity: str
    labels: dict[str, str] = field(default_factory=dict)
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class DeployEntry:
    """A deploy the incident opened after, and what responders judged of it."""

    deployment_id: int
    version: str
    previous_version: str
    environment: str
    deployer: str
    deployed_at: datetime
    minutes_before: int
    verdict: str = SUSPECTED
    judged_by: str = ""
    judged_at: datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class NoteEntry:
    at: datetime
    by: str
    text: str
    channel: str = ""


@dataclass(frozen=True)
class Draft:
    """Everything the incident's events say, in the order they happened."""

    opened_at: datetime | None = None
    # When it started: the first alert, else the opening.
    started_at: datetime | None = None
    title: str = ""
    service_name: str = ""
    urgency: str = ""
    opened_by: str = ""
    pages: tuple[PageEntry, ...] = ()
    notifications: tuple[NotificationEntry, ...] = ()
    acknowledgements: tuple[AckEntry, ...] = ()
    escalations: tuple[EscalationEntry, ...] = ()
    reassignments: tuple[ReassignEntry, ...] = ()
    resolution: Resolution | None = None
    alerts: tuple[AlertEntry, ...] = ()
    deploys: tuple[DeployEntry, ...] = ()
    notes: tuple[NoteEntry, ...] = ()
    timeline: tuple[Entry, ...] = ()

    @property
    def first_ack(self) -> AckEntry | None:
        return self.acknowledgements[0] if self.acknowledgements else None

    @property
    def seconds_to_acknowledge(self) -> int | None:
        return self.first_ack.after_seconds if self.first_ack else None

    @property
    def seconds_to_resolve(self) -> int | None:
        return self.resolution.after_seconds if self.resolution else None


def _seconds(start: datetime | None, at: datetime) -> int:
    return max(0, int((at - start).total_seconds())) if start is not None else 0


def _planned(person: ev.PersonPaged) -> tuple[str, ...]:
    return tuple(
        f"{c.contact_type} {'now' if c.delay_minutes == 0 else f'at +{c.delay_minutes}m'}"
        for c in person.contacts
    )


def _alert(at: datetime, ref: ev.AlertRef) -> AlertEntry:
    return AlertEntry(
        at=at,
        summary=ref.summary,
        dedup_key=ref.dedup_key,
        severity=ref.severity,
        labels=dict(ref.labels),
    )


class _Fold:
    """The accumulator: one method per kind that a review lists beyond the timeline."""

    def __init__(self) -> None:
        self.opened_at: datetime | None = None
        self.first_alert_at: datetime | None = None
        self.title = ""
        self.service_name = ""
        self.urgency = ""
        self.opened_by = ""
        self.pages: list[PageEntry] = []
        self.notifications: list[NotificationEntry] = []
        self.acks: list[AckEntry] = []
        self.escalations: list[EscalationEntry] = []
        self.reassignments: list[ReassignEntry] = []
        self.resolution: Resolution | None = None
        self.alerts: dict[str, AlertEntry] = {}
        self.deploys: dict[int, DeployEntry] = {}
        self.notes: list[NoteEntry] = []
        self.timeline: list[Entry] = []

    @property
    def start(self) -> datetime | None:
        if self.first_alert_at is not None and self.opened_at is not None:
            return min(self.first_alert_at, self.opened_at)
        return self.first_alert_at or self.opened_at

    def add(self, row: Recorded) -> None:
        event = row.event
        if event is None:
            self.timeline.append(Entry(row.at, row.kind, row.message or row.kind))
            return
        by = event.by_name if isinstance(event, ev.ActedEvent) else ""
        channel = event.channel.value if isinstance(event, ev.ActedEvent) else ""
        self.timeline.append(Entry(row.at, row.kind, render.text(event), by, channel))
        self._facts(row.at, event, by, channel)

    def _facts(self, at: datetime, event: ev.Event, by: str, channel: str) -> None:
        match event:
            case ev.Opened():
                self.opened_at = self.opened_at or at
                self.title, self.service_name, self.urgency = (
                    event.title,
                    event.service_name,
                    event.urgency,
                )
                self.opened_by = by
            case ev.AlertTriggered():
                self.first_alert_at = self.first_alert_at or at
                for ref in event.alerts:
                    self.alerts.setdefault(ref.dedup_key, _alert(at, ref))
            case ev.AlertResolved():
                known = self.alerts.get(event.alert.dedup_key) or _alert(at, event.alert)
                self.alerts[event.alert.dedup_key] = replace(known, resolved_at=event.ended_at)
            case ev.Escalated():
                self.escalations.append(
                    EscalationEntry(
                        at=at,
                        step=event.step + 1,
                        steps=event.steps,
                        reason=event.reason,
                        cause=event.cause.value if event.cause else "",
                        responders=tuple(p.name for p in event.paged if not p.shadow),
                    )
                )
                for person in event.paged:
                    self.pages.append(
                        PageEntry(
                            at=at,
                            user_id=person.user_id,
                            name=person.name,
                            channels=_planned(person),
                            step=event.step + 1,
                            shadow=person.shadow,
                            reason=event.reason,
                        )
                    )
            case ev.Paged():
                for person in event.paged:
                    self.pages.append(
                        PageEntry(
                            at=at,
                            user_id=person.user_id,
                            name=person.name,
                            channels=_planned(person),
                            step=None if event.step is None else event.step + 1,
                            shadow=person.shadow,
                            reason=event.reason,
                        )
                    )
            case ev.NotificationSent():
                self._notified(at, event.notification, "sent")
            case ev.NotificationFailed():
                self._notified(at, event.notification, "failed")
            case ev.NotificationBlocked():
                self._notified(at, event.notification, "blocked")
            case ev.NotificationBundled():
                self._notified(at, event.notification, "bundled")
            case ev.Acknowledged():
                self.acks.append(
                    AckEntry(at, event.by_user_id, by, channel, _seconds(self.start, at))
                )
            case ev.Reassigned():
                self.reassignments.append(
                    ReassignEntry(at, by, event.from_names, event.to_name, event.note)
                )
            case ev.Resolved():
                self.resolution = Resolution(
                    at=at,
                    by="" if event.automatic else by,
                    automatic=event.automatic,
                    channel=channel,
                    after_seconds=_seconds(self.start, at),
                    note=event.note,
                )
            case ev.NoteAdded():
                self.notes.append(NoteEntry(at, by, event.text, channel))
            case ev.DeployNearby():
                self.deploys[event.deployment_id] = DeployEntry(
                    deployment_id=event.deployment_id,
                    version=event.version,
                    previous_version=event.previous_version,
                    environment=event.environment,
                    deployer=event.deployer_name,
                    deployed_at=event.deployed_at,
                    minutes_before=event.minutes_before,
                )
            case ev.DeployConfirmed() | ev.DeployRejected():
                verdict = CONFIRMED if isinstance(event, ev.DeployConfirmed) else REJECTED
                known = self.deploys.get(event.deployment_id)
                if known is not None:
                    self.deploys[event.deployment_id] = replace(
                        known, verdict=verdict, judged_by=by, judged_at=at, note=event.note
                    )
            case _:
                pass

    def _notified(self, at: datetime, ref: ev.NotificationRef, outcome: str) -> None:
        self.notifications.append(
            NotificationEntry(at, ref.contact_type, ref.address, outcome, ref.message_kind)
        )

    def draft(self) -> Draft:
        return Draft(
            opened_at=self.opened_at,
            started_at=self.start,
            title=self.title,
            service_name=self.service_name,
            urgency=self.urgency,
            opened_by=self.opened_by,
            pages=tuple(self.pages),
            notifications=tuple(self.notifications),
            acknowledgements=tuple(self.acks),
            escalations=tuple(self.escalations),
            reassignments=tuple(self.reassignments),
            resolution=self.resolution,
            alerts=tuple(self.alerts.values()),
            deploys=tuple(self.deploys.values()),
            notes=tuple(self.notes),
            timeline=tuple(self.timeline),
        )


def fold(rows: Iterable[Recorded]) -> Draft:
    """The draft of an incident from its timeline rows, in the order they were recorded (rows
    at the same instant keep that order)."""
    acc = _Fold()
    for row in sorted(rows, key=lambda r: r.at):  # stable: equal instants keep their order
        acc.add(row)
    return acc.draft()


def minutes(seconds: int | None) -> str:
    """``42 min``, ``1 h 05 min``, ``40 s``; "" for None."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds} s"
    whole = seconds // 60
    if whole < 60:
        return f"{whole} min"
    return f"{whole // 60} h {whole % 60:02d} min"


def opening_summary(draft: Draft) -> str:
    """The first words of a new review's summary: what the events already say (the responder
    rewrites it)."""
    parts = []
    if draft.title:
        parts.append(f"{draft.service_name}: {draft.title}.".lstrip(": "))
    ack = draft.first_ack
    if ack is not None:
        parts.append(f"Acknowledged by {ack.name or 'Baton'} after {minutes(ack.after_seconds)}.")
    if draft.resolution is not None:
        who = "by itself" if draft.resolution.automatic else f"by {draft.resolution.by}"
        parts.append(f"Resolved {who} after {minutes(draft.resolution.after_seconds)}.")
    for deploy in draft.deploys:
        parts.append(
            f"Opened {deploy.minutes_before} min after deploy {deploy.version}"
            + (f" to {deploy.environment}" if deploy.environment else "")
            + "."
        )
    return " ".join(parts)


# ----------------------------------------------------------- the document a page or export shows


@dataclass(frozen=True)
class ReviewView:
    id: int
    incident_id: int
    state: str
    severity: str
    summary: str
    customer_impact: str
    root_cause: str
    contributing_factors: str
    went_well: str
    went_badly: str
    lessons: str
    owner_id: int | None
    owner_name: str
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    published_by_name: str = ""


@dataclass(frozen=True)
class IncidentView:
    id: int
    title: str
    service_id: int
    service_name: str
    team_id: int
    urgency: str
    state: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class DeployView:
    """A deploy linked to the incident, as stored, with the responders' verdict."""

    deployment_id: int
    version: str
    previous_version: str
    environment: str
    deployer: str
    status: str  # succeeded, failed, rolled_back, started
    started_at: datetime
    finished_at: datetime | None
    commit_sha: str
    minutes_after_deploy: int
    verdict: str  # suspected, confirmed, rejected
    judged_at: datetime | None


@dataclass(frozen=True)
class ItemView:
    id: int
    title: str
    owner_id: int | None
    owner_name: str
    due_date: date | None
    status: str
    tracker_url: str
    past_due: bool  # open with a due date before today (allowed, and flagged)


@dataclass(frozen=True)
class ReviewDocument:
    """Everything a review page or export shows."""

    review: ReviewView
    incident: IncidentView
    draft: Draft
    deploys: tuple[DeployView, ...]
    action_items: tuple[ItemView, ...]

    @property
    def timeline(self) -> tuple[Entry, ...]:
        return self.draft.timeline

    @property
    def alerts(self) -> tuple[AlertEntry, ...]:
        return self.draft.alerts

    @property
    def notes(self) -> tuple[NoteEntry, ...]:
        return self.draft.notes
