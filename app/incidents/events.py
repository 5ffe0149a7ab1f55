"""The typed events of an incident's timeline: one frozen dataclass per kind.

An event says what happened in facts (ids, names as they were, counts, reasons), never in
sentences: ``app/incidents/render.py`` turns it into words for its reader. Stored in
``incident_events`` as ``kind`` (an :class:`EventKind` value) and ``data`` (the fields as JSON,
with the payload version under ``"v"``).

A new kind is a new :class:`EventKind` member and a subclass of :class:`Event` that names it:
the subclass registers itself, and storage, decoding and the API's schema follow from its fields
(its words go in ``render.py``; tests/incidents fails until they do).
Changing the fields of a kind means a new ``version`` and an ``upgrade_payload`` that reads the
older one.

Only the standard library and these value types are imported here: deciding what happens to an
incident (and folding its history) must not need a database to produce or read events.
"""

from __future__ import annotations

import functools
import types
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

PAYLOAD_VERSION_KEY = "v"

# The values of enums that live beside database models (people.models.ContactType and Urgency,
# notify.base.MessageKind); tests/incidents checks that they match.
ContactTypeName = Literal["sms", "voice", "email", "slack", "webhook"]
UrgencyName = Literal["high", "low"]
# What the person who deployed heard of an incident that opened in their deploy's watch: paged as
# a responder, an FYI, nothing (the service says off, or nobody knows who deployed), already
# paged as on call, or nothing yet because a maintenance window holds the incident.
DeployerTold = Literal["page", "notify", "off", "responder", "held"]
MessageKindName = Literal[
    "page", "verification", "test", "reminder", "status_update", "summary", "info"
]


class Channel(StrEnum):
    """How an action reached Baton."""

    API = "api"
    WEB = "web"
    CLI = "cli"
    SLACK = "slack"
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    INTEGRATION = "integration"
    SYSTEM = "system"


class EventKind(StrEnum):
    OPENED = "opened"
    ALERT_TRIGGERED = "alert_triggered"
    ALERT_REPEATED = "alert_repeated"
    ALERT_RESOLVED = "alert_resolved"
    ALERTS_TRUNCATED = "alerts_truncated"
    NO_ESCALATION_POLICY = "no_escalation_policy"
    MAINTENANCE_HOLD = "maintenance_hold"
    MAINTENANCE_ENDED = "maintenance_ended"
    ESCALATED = "escalated"
    STEP_EMPTY = "step_empty"
    ESCALATION_EXHAUSTED = "escalation_exhausted"
    ESCALATE_REQUESTED = "escalate_requested"
    ESCALATION_BROUGHT_FORWARD = "escalation_brought_forward"
    PAGED = "paged"
    NOTIFICATION_QUEUED = "notification_queued"
    NOTIFICATION_SENT = "notification_sent"
    NOTIFICATION_STATUS = "notification_status"
    NOTIFICATION_RETRY = "notification_retry"
    NOTIFICATION_FAILED = "notification_failed"
    NOTIFICATION_BLOCKED = "notification_blocked"
    NOTIFICATION_BUNDLED = "notification_bundled"
    NOTIFICATION_FALLTHROUGH = "notification_fallthrough"
    ACKNOWLEDGED = "acknowledged"
    UNACKNOWLEDGED = "unacknowledged"
    ACK_TIMEOUT = "ack_timeout"
    REASSIGNED = "reassigned"
    RESOLVED = "resolved"
    NOTE = "note"
    URGENCY_CHANGED = "urgency_changed"
    DEPLOY_NEARBY = "deploy_nearby"
    DEPLOY_CONFIRMED = "deploy_confirmed"
    DEPLOY_REJECTED = "deploy_rejected"
    ENGINE_ERROR = "engine_error"


class EventDecodeError(ValueError):
    """A stored row that does not read as its kind's payload (unknown kind, version or shape)."""


_REGISTRY: dict[EventKind, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event kind; a subclass that sets ``kind`` is registered under it."""

    kind: ClassVar[EventKind]
    version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" not in cls.__dict__:
            return  # a shared base of several kinds
        taken = _REGISTRY.get(cls.kind)
        if taken is not None:
            raise TypeError(f"{cls.__name__}: {cls.kind} is already {taken.__name__}")
        _REGISTRY[cls.kind] = cls

    @classmethod
    def upgrade_payload(cls, version: int, payload: dict[str, Any]) -> dict[str, Any]:
        """Read a payload of an older version as the current one (none exist yet)."""
        raise EventDecodeError(f"{cls.kind} has no payload version {version}")


@dataclass(frozen=True, kw_only=True)
class ActedEvent(Event):
    """Something a person (or Baton itself, ``by_user_id`` None) did, and how it reached us."""

    by_user_id: int | None
    by_name: str  # as it was then: people are renamed and deleted, history is not
    channel: Channel


# ----------------------------------------------------------------------------- value types


@dataclass(frozen=True, kw_only=True)
class AlertRef:
    alert_id: int | None  # None where the alert was inserted in bulk
    dedup_key: str
    summary: str
    severity: str = ""
    # The labels that tell this alert from its neighbours (instance, pod, ...).
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PlannedContact:
    """One rule of a person's ladder: this contact type, this many minutes after the page."""

    contact_type: ContactTypeName
    delay_minutes: int


@dataclass(frozen=True, kw_only=True)
class PersonPaged:
    user_id: int
    name: str
    shadow: bool = False
    contacts: tuple[PlannedContact, ...] = ()  # empty: no verified contact method to page

    @property
    def reachable(self) -> bool:
        return bool(self.contacts)


@dataclass(frozen=True, kw_only=True)
class ChannelPosted:
    """A Slack channel or webhook an escalation step names directly."""

    contact_type: ContactTypeName
    address: str  # masked like every address on a timeline


@dataclass(frozen=True, kw_only=True)
class NotificationRef:
    """Which message, to which contact method, as every reader of a timeline may see it."""

    id: int
    message_kind: MessageKindName
    contact_type: ContactTypeName
    contact_method_id: int | None  # None: an escalation step's own channel or webhook
    address: str  # masked
    method_label: str = ""


# ---------------------------------------------------------------------------- the incident


@dataclass(frozen=True, kw_only=True)
class Opened(ActedEvent):
    kind = EventKind.OPENED
    service_id: int
    service_name: str
    title: str
    urgency: UrgencyName
    details: str = ""


@dataclass(frozen=True, kw_only=True)
class NoEscalationPolicy(Event):
    kind = EventKind.NO_ESCALATION_POLICY
    service_name: str


@dataclass(frozen=True, kw_only=True)
class MaintenanceHold(Event):
    """Opened during a maintenance window: nobody is paged until it ends."""

    kind = EventKind.MAINTENANCE_HOLD
    service_name: str
    until: datetime
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class MaintenanceEnded(Event):
    kind = EventKind.MAINTENANCE_ENDED


@dataclass(frozen=True, kw_only=True)
class Acknowledged(ActedEvent):
    kind = EventKind.ACKNOWLEDGED
    cancelled: int = 0  # notifications that had not gone out yet


@dataclass(frozen=True, kw_only=True)
class Unacknowledged(ActedEvent):
    kind = EventKind.UNACKNOWLEDGED


@dataclass(frozen=True, kw_only=True)
class AckTimeout(Event):
    """The acknowledgement expired before anyone resolved the incident: triggered again."""

    kind = EventKind.ACK_TIMEOUT
    minutes: int


@dataclass(frozen=True, kw_only=True)
class Reassigned(ActedEvent):
    kind = EventKind.REASSIGNED
    from_: tuple[int, ...]  # stored as "from"
    from_names: tuple[str, ...]
    to: int
    to_name: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Resolved(ActedEvent):
    kind = EventKind.RESOLVED
    automatic: bool
    note: str = ""
    closed_alerts: int = 0  # alerts still firing at the source that a person's resolve closed


@dataclass(frozen=True, kw_only=True)
class NoteAdded(ActedEvent):
    kind = EventKind.NOTE
    text: str


@dataclass(frozen=True, kw_only=True)
class DeployNearby(Event):
    """The incident opened while a deploy of its service ran or soon after: it may be the
    cause, and the version before it is the rollback target."""

    kind = EventKind.DEPLOY_NEARBY
    deployment_id: int
    version: str
    previous_version: str = ""
    environment: str = ""
    deployer_user_id: int | None = None
    deployer_name: str = ""  # as the sender named them, when no Baton user matched
    deployed_at: datetime
    minutes_before: int  # from the deploy (its end, or its start while it runs) to the opening
    deployer_told: DeployerTold


@dataclass(frozen=True, kw_only=True)
class DeployConfirmed(ActedEvent):
    """A responder said the nearby deploy caused the incident: it is a failed change."""

    kind = EventKind.DEPLOY_CONFIRMED
    deployment_id: int
    version: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class DeployRejected(ActedEvent):
    """A responder said the nearby deploy did not cause the incident."""

    kind = EventKind.DEPLOY_REJECTED
    deployment_id: int
    version: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class UrgencyChanged(ActedEvent):
    kind = EventKind.URGENCY_CHANGED
    urgency: UrgencyName
    previous: UrgencyName


@dataclass(frozen=True, kw_only=True)
class EngineError(Event):
    """The engine failed on this incident; its work was undone and is retried."""

    kind = EventKind.ENGINE_ERROR
    operation: str  # "escalate", "expire the acknowledgement of", ...
    retry_in_seconds: int


# ---------------------------------------------------------------------------------- alerts


@dataclass(frozen=True, kw_only=True)
class AlertTriggered(Event):
    kind = EventKind.ALERT_TRIGGERED
    count: int
    alerts: tuple[AlertRef, ...]  # the first ones, when a storm brings many
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AlertRepeated(Event):
    """Not written yet: a repeat only bumps the alert's ``seen_count``."""

    kind = EventKind.ALERT_REPEATED
    alert: AlertRef
    seen_count: int


@dataclass(frozen=True, kw_only=True)
class AlertResolved(Event):
    kind = EventKind.ALERT_RESOLVED
    alert: AlertRef
    ended_at: datetime


@dataclass(frozen=True, kw_only=True)
class AlertsTruncated(Event):
    """The source left alerts out of its message (Alertmanager's ``truncatedAlerts``)."""

    kind = EventKind.ALERTS_TRUNCATED
    truncated: int


# ------------------------------------------------------------------------------ escalation


@dataclass(frozen=True, kw_only=True)
class StepEvent(Event):
    """Where on the policy: ``step`` and ``loop`` count from 0, ``steps`` and ``passes`` are
    the policy's size (a policy repeated twice has three passes)."""

    step: int
    loop: int
    steps: int
    passes: int


class EscalationCause(StrEnum):
    """Why a step was paged (``reason`` says it in words, for the page itself)."""

    OPENED = "opened"
    TIMED_OUT = "timed_out"  # nobody acknowledged the step before
    REQUESTED = "requested"  # someone escalated by hand
    UNACKNOWLEDGED = "unacknowledged"
    ACK_EXPIRED = "ack_expired"
    MAINTENANCE_ENDED = "maintenance_ended"


@dataclass(frozen=True, kw_only=True)
class Escalated(StepEvent):
    kind = EventKind.ESCALATED
    reason: str
    responders: tuple[int, ...]
    shadows: tuple[int, ...]
    # Filled in when the pages are written (a decision names people, not their contact plans).
    paged: tuple[PersonPaged, ...] = ()
    channels: tuple[ChannelPosted, ...] = ()
    low_urgency: bool = False  # low urgency pages once and never escalates
    next_escalation_at: datetime | None = None
    last_step: bool = False
    cause: EscalationCause | None = None  # None on rows written before causes were recorded
    waited_minutes: int | None = None  # with TIMED_OUT: the delay of the step before


@dataclass(frozen=True, kw_only=True)
class StepEmpty(StepEvent):
    kind = EventKind.STEP_EMPTY


class ExhaustedBecause(StrEnum):
    UNACKNOWLEDGED = "unacknowledged"  # the last step ran and its delay passed
    ALL_STEPS_EMPTY = "all_steps_empty"  # no step reached anyone
    NO_STEPS = "no_steps"  # the timer ran on an incident whose policy has no steps


@dataclass(frozen=True, kw_only=True)
class EscalationExhausted(Event):
    kind = EventKind.ESCALATION_EXHAUSTED
    because: ExhaustedBecause
    waited_minutes: int | None = None


@dataclass(frozen=True, kw_only=True)
class EscalateRequested(ActedEvent):
    kind = EventKind.ESCALATE_REQUESTED


@dataclass(frozen=True, kw_only=True)
class Paged(Event):
    """People paged outside the policy's steps: directly by name, or handed the incident."""

    kind = EventKind.PAGED
    user_id: int
    paged: tuple[PersonPaged, ...] = ()  # filled in when the page is written
    reason: str = ""
    # Handed the incident mid-escalation: the step it stands at (None: paged by name at opening).
    step: int | None = None
    loop: int | None = None


# --------------------------------------------------------------------------- notifications


@dataclass(frozen=True, kw_only=True)
class NotificationEvent(Event):
    notification: NotificationRef


@dataclass(frozen=True, kw_only=True)
class NotificationQueued(NotificationEvent):
    """Not written yet: the ``escalated`` and ``paged`` events say who is paged how."""

    kind = EventKind.NOTIFICATION_QUEUED
    due_at: datetime


@dataclass(frozen=True, kw_only=True)
class NotificationSent(NotificationEvent):
    kind = EventKind.NOTIFICATION_SENT
    provider: str
    provider_message_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class NotificationStatus(NotificationEvent):
    """A provider's delivery report (``delivered``, ``undelivered``, ...)."""

    kind = EventKind.NOTIFICATION_STATUS
    provider: str
    provider_status: str
    provider_message_id: str | None = None
    error_code: str | None = None
    already: str | None = None  # the final state the notification had reached before
    late: bool = False  # behind a state already recorded: changes nothing


class RetryBecause(StrEnum):
    TEMPORARY_FAILURE = "temporary_failure"
    # The sender stopped mid-send; a webhook is sent again, the receiver deduplicates.
    OUTCOME_UNKNOWN = "outcome_unknown"
    # The same, with nothing else to reach anyone: sent once more, marked as a possible duplicate.
    POSSIBLE_DUPLICATE = "possible_duplicate"


@dataclass(frozen=True, kw_only=True)
class NotificationRetry(NotificationEvent):
    kind = EventKind.NOTIFICATION_RETRY
    because: RetryBecause
    attempt: int
    max_attempts: int | None = None
    retry_in_seconds: int | None = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class NotificationFailed(NotificationEvent):
    kind = EventKind.NOTIFICATION_FAILED
    reason: str
    attempts: int
    provider: str | None = None  # None: it failed before reaching one
    provider_message_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class NotificationBlocked(NotificationEvent):
    """Refused before sending: the destination is in a network Baton does not send to."""

    kind = EventKind.NOTIFICATION_BLOCKED
    reason: str
    attempts: int


@dataclass(frozen=True, kw_only=True)
class NotificationBundled(NotificationEvent):
    """Folded into one summary: more pages were due to the address than its rate limit allows."""

    kind = EventKind.NOTIFICATION_BUNDLED
    summary_id: int
    limit: int
    window_minutes: int
    bundled: int


@dataclass(frozen=True, kw_only=True)
class NotificationFallthrough(NotificationEvent):
    """The person's next rule moved up to now because the previous channel failed."""

    kind = EventKind.NOTIFICATION_FALLTHROUGH


@dataclass(frozen=True, kw_only=True)
class EscalationBroughtForward(NotificationEvent):
    """The notification may not have arrived and the person has no later rule."""

    kind = EventKind.ESCALATION_BROUGHT_FORWARD


# ---------------------------------------------------------------------------------- storage


def registered() -> dict[EventKind, type[Event]]:
    return dict(_REGISTRY)


def event_class(kind: str) -> type[Event]:
    try:
        return _REGISTRY[EventKind(kind)]
    except (ValueError, KeyError):
        raise EventDecodeError(f"unknown event kind {kind!r}") from None


def to_payload(event: Event) -> dict[str, Any]:
    """The ``data`` column of an event: its fields as JSON, with the payload version."""
    return {PAYLOAD_VERSION_KEY: type(event).version, **as_json(event)}


def as_json(event: Event) -> dict[str, Any]:
    """The event's fields as JSON values."""
    encoded: dict[str, Any] = _encode(event)
    return encoded


def from_payload(kind: str, payload: Any) -> Event:
    """The event a stored row holds; :class:`EventDecodeError` if it does not read as one."""
    cls = event_class(kind)
    if not isinstance(payload, dict):
        raise EventDecodeError(f"{kind}: payload is not an object")
    version = payload.get(PAYLOAD_VERSION_KEY)
    if not isinstance(version, int) or isinstance(version, bool):
        raise EventDecodeError(f"{kind}: payload has no version")
    body = {k: v for k, v in payload.items() if k != PAYLOAD_VERSION_KEY}
    if version != cls.version:
        body = cls.upgrade_payload(version, body)
    return _build(cls, body, kind)


def json_key(field_name: str) -> str:
    """A field named after a Python keyword (``from_``) is stored under the keyword."""
    return field_name.removesuffix("_")


def _encode(value: Any) -> Any:
    # Most values are plain; an Enum may be a str too, so it is asked first.
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return {key: _encode(getattr(value, name)) for name, key in _json_fields(type(value))}
    return value


@functools.cache
def _json_fields(cls: type) -> tuple[tuple[str, str], ...]:
    # A storm encodes thousands of events: the fields of each class are looked up once.
    return tuple((f.name, json_key(f.name)) for f in fields(cls))


D = TypeVar("D")


def _build(cls: type[D], raw: Any, where: str) -> D:
    if not isinstance(raw, dict):
        raise EventDecodeError(f"{where}: expected an object")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        key = json_key(f.name)
        if key in raw:
            values[f.name] = _decode(hints[f.name], raw[key], f"{where}.{key}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise EventDecodeError(f"{where}: {key} is missing")
    return cls(**values)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # Resolving the annotations is the slow part of reading a timeline: once per class.
    return get_type_hints(cls)


def _decode(tp: Any, raw: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        if raw is None:
            return None
        (inner,) = [a for a in get_args(tp) if a is not type(None)]
        return _decode(inner, raw, where)
    if origin is Literal:
        if raw not in get_args(tp):
            raise EventDecodeError(f"{where}: {raw!r} is not one of {get_args(tp)}")
        return raw
    if origin is tuple:
        if not isinstance(raw, list):
            raise EventDecodeError(f"{where}: expected a list")
        return tuple(_decode(get_args(tp)[0], item, where) for item in raw)
    if origin is dict:
        if not isinstance(raw, dict):
            raise EventDecodeError(f"{where}: expected an object")
        value_type = get_args(tp)[1]
        return {str(k): _decode(value_type, v, where) for k, v in raw.items()}
    if is_dataclass(tp):
        return _build(tp, raw, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(raw)
        except ValueError:
            raise EventDecodeError(f"{where}: {raw!r} is not a {tp.__name__}") from None
    if tp is datetime:
        try:
            return datetime.fromisoformat(raw)
        except (TypeError, ValueError):
            raise EventDecodeError(f"{where}: {raw!r} is not an instant") from None
    if tp is bool:
        if not isinstance(raw, bool):
            raise EventDecodeError(f"{where}: expected true or false")
        return raw
    if tp is int:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise EventDecodeError(f"{where}: expected an integer")
        return raw
    if tp is str:
        if not isinstance(raw, str):
            raise EventDecodeError(f"{where}: expected a string")
        return raw
    raise TypeError(f"{where}: events cannot hold {tp!r}")  # a field type this codec lacks
