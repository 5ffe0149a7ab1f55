"""The numbers that feed back, pure: folds over typed events, notifications, deploys and on-call
shifts into a window's figures per service, per team and per person.

No database, clock or settings: ``metrics_queries.py`` loads the facts and calls the builders
here (``build_service_report``, ``build_team_report``, ``build_person_report``). Every count
that adds up is counted where its instant falls (an incident where it opened, an interruption
where it was sent, a deploy where it reached the environment) in the half-open window
``[since, until)``, so two adjacent windows sum to the whole one.

Definitions (docs/metrics.md says them in words):

* time to acknowledge: the first acknowledgement after the opening; an acknowledgement after
  the resolution does not count, so it never exceeds the time to resolve. Incidents nobody
  acknowledged are left out of MTTA.
* escalated: the incident reached step 2 (an ``Escalated`` at step index 1 or later, or a later
  pass of the policy).
* flapping: resolved by its source (automatically) within :data:`FLAP_LIMIT` of opening.
* out of hours: opened outside business hours (``app/schedules/load.py``'s categories) in the
  team's zone; a person's interruptions are split in their own zone.
* p90: the nearest-rank percentile (the smallest value with at least 90 % at or below it).
"""

from __future__ import annotations

import functools
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.deploys import watch
from app.incidents.events import (
    Acknowledged,
    AlertTriggered,
    Escalated,
    Event,
    Opened,
    Resolved,
)
from app.schedules.load import LoadCategory, load_by_person
from app.schedules.oncall import Shift

__all__ = [
    "DORA_BANDS",
    "DORA_REPORT",
    "DORA_YEAR",
    "FLAP_LIMIT",
    "ON_CALL_SHARE_CEILING",
    "PAGES_PER_SHIFT_CEILING",
    "AlertCount",
    "BandRow",
    "DayPoint",
    "DeployFacts",
    "Dora",
    "IncidentFacts",
    "IncidentStats",
    "Interruption",
    "LoadStats",
    "PersonLoad",
    "PersonReport",
    "Series",
    "ServiceReport",
    "ServiceSummary",
    "Summary",
    "TeamReport",
    "WeekPoint",
    "band",
    "build_person_report",
    "build_service_report",
    "build_team_report",
    "category_at",
    "dora",
    "fold_incident",
    "incident_stats",
    "load_stats",
    "person_load",
    "series",
    "summarize",
]

FLAP_LIMIT = timedelta(minutes=5)
# Google's SRE book ("Being On-Call"): at most two incidents per 12-hour shift, and at most 25 %
# of an engineer's time on call.
SHIFT_HOURS = 12
PAGES_PER_SHIFT_CEILING = 2
ON_CALL_SHARE_CEILING = 0.25
NOISIEST = 10
# The messages that interrupt someone: pages, and the summaries a rate limit folds pages into.
INTERRUPTING_KINDS = frozenset({"page", "summary"})
_FAILED_STATUSES = frozenset({"failed", "rolled_back"})
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)

# ---------------------------------------------------------------------------------- DORA bands

DORA_YEAR = 2023
DORA_REPORT = (
    "Accelerate State of DevOps Report 2023 (DORA, Google Cloud), "
    "software delivery performance levels"
)


@dataclass(frozen=True, slots=True)
class BandRow:
    """One cell of the report's table, and the bound Baton reads it as.

    ``bound``: deploys per day at least this (frequency), or at most this many seconds (lead
    time, recovery) or this share (change failure rate); ``strict``: the bound itself is out
    ("less than one hour"). ``None``: every value left (low).
    """

    metric: str
    band: str
    report_says: str
    bound: float | None
    strict: bool = False


_DAY_S = 86_400.0
# The one table: rows of a metric from the best band down; the first whose bound the value
# meets is its band. The report names ranges and, for the failure rate, each level's typical
# value; reading them as bounds is Baton's (docs/metrics.md). The 2023 report gives low the same
# frequency and lead-time range as medium: low is what falls outside medium.
DORA_BANDS: tuple[BandRow, ...] = (
    BandRow("deployment_frequency", "elite", "On demand (multiple deploys per day)", 1.0),
    BandRow("deployment_frequency", "high", "Between once per day and once per week", 1 / 7),
    BandRow("deployment_frequency", "medium", "Between once per week and once per month", 1 / 30),
    BandRow("deployment_frequency", "low", "Between once per week and once per month", None),
    BandRow("change_lead_time", "elite", "Less than one day", _DAY_S, strict=True),
    BandRow("change_lead_time", "high", "Between one day and one week", 7 * _DAY_S),
    BandRow("change_lead_time", "medium", "Between one week and one month", 30 * _DAY_S),
    BandRow("change_lead_time", "low", "Between one week and one month", None),
    BandRow("change_failure_rate", "elite", "5%", 0.05),
    BandRow("change_failure_rate", "high", "10%", 0.10),
    BandRow("change_failure_rate", "medium", "15%", 0.15),
    BandRow("change_failure_rate", "low", "64%", None),
    BandRow("failed_deployment_recovery_time", "elite", "Less than one hour", 3_600.0, strict=True),
    BandRow("failed_deployment_recovery_time", "high", "Less than one day", _DAY_S, strict=True),
    BandRow(
        "failed_deployment_recovery_time", "medium", "Between one day and one week", 7 * _DAY_S
    ),
    BandRow("failed_deployment_recovery_time", "low", "Between one month and six months", None),
)
_HIGHER_IS_BETTER = frozenset({"deployment_frequency"})


def band(metric: str, value: float | None) -> str | None:
    """The band of ``value`` for ``metric`` in :data:`DORA_BANDS`; None without a value."""
    if value is None:
        return None
    rows = [row for row in DORA_BANDS if row.metric == metric]
    if not rows:
        raise ValueError(f"no DORA band for {metric!r}")
    for row in rows:
        if row.bound is None:
            return row.band
        if metric in _HIGHER_IS_BETTER:
            meets = value >= row.bound
        else:
            meets = value < row.bound if row.strict else value <= row.bound
        if meets:
            return row.band
    return rows[-1].band


# ----------------------------------------------------------------------------------- summaries


@dataclass(frozen=True, slots=True)
class Summary:
    """Durations in seconds (or any value): how many, and their median, p90 and mean."""

    count: int
    median: float | None
    p90: float | None
    mean: float | None


def summarize(values: Iterable[float]) -> Summary:
    ordered = sorted(values)
    if not ordered:
        return Summary(0, None, None, None)
    rank = max(1, math.ceil(0.9 * len(ordered)))
    return Summary(
        count=len(ordered),
        median=float(statistics.median(ordered)),
        p90=float(ordered[rank - 1]),
        mean=math.fsum(ordered) / len(ordered),
    )


@functools.lru_cache(maxsize=65_536)
def category_at(at: datetime, zone: ZoneInfo | str) -> LoadCategory:
    """The pager-load category of an instant on a wall clock in ``zone`` (load.py's edges:
    business 09-17, evening 17-22, night 22-09 on weekdays, the weekend from Saturday 00:00)."""
    if at.tzinfo is None:
        raise ValueError("category_at needs an aware instant")
    local = at.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))
    if local.isoweekday() >= 6:
        return LoadCategory.WEEKEND
    if local.hour < 9 or local.hour >= 22:
        return LoadCategory.NIGHT
    return LoadCategory.BUSINESS if local.hour < 17 else LoadCategory.EVENING


def _in(at: datetime, since: datetime, until: datetime) -> bool:
    return since <= at < until


def _seconds(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds())


# ----------------------------------------------------------------------------------- incidents


# Not frozen: a window makes tens of thousands, and a frozen dataclass's __init__ costs about
# twice as much. Nothing changes them after they are made.
@dataclass(slots=True)
class IncidentFacts:
    """What the metrics need of one incident, folded from its typed events."""

    incident_id: int
    service_id: int
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_automatically: bool
    escalated: bool  # reached step 2
    alerts: tuple[tuple[str, str], ...]  # (alert name, dedup key), sorted
    # Seconds from the opening (None: not acknowledged / not resolved); every figure of a
    # window reads them, several times, so they are worked out once.
    time_to_acknowledge: float | None
    time_to_resolve: float | None

    @property
    def flapping(self) -> bool:
        return (
            self.resolved_automatically
            and self.resolved_at is not None
            and self.resolved_at - self.opened_at <= FLAP_LIMIT
        )


def _alert_name(labels: Mapping[str, str], summary: str) -> str:
    return labels.get("alertname") or summary


def fold_incident(
    incident_id: int,
    service_id: int,
    events: Iterable[tuple[datetime, Event]],
    *,
    opened_at: datetime | None = None,
) -> IncidentFacts:
    """Fold an incident's events (in any order: each figure is a minimum or a set) into facts.

    ``opened_at``: the incident row's creation, used when no ``Opened`` event is given (the
    queries read only the kinds that matter and take the opening from the row).
    """
    opened: datetime | None = opened_at
    acknowledged: datetime | None = None
    resolution: tuple[datetime, bool] | None = None
    escalated = False
    alerts: list[tuple[str, str]] = []
    for at, event in events:
        if isinstance(event, Opened):
            opened = at if opened is None else min(opened, at)
        elif isinstance(event, Acknowledged):
            acknowledged = at if acknowledged is None else min(acknowledged, at)
        elif isinstance(event, Resolved):
            # The earliest resolution; at the same instant a person's resolve wins over the
            # source's, whichever was stored first.
            candidate = (at, event.automatic)
            resolution = candidate if resolution is None else min(resolution, candidate)
        elif isinstance(event, Escalated):
            escalated = escalated or event.step >= 1 or event.loop >= 1
        elif isinstance(event, AlertTriggered):
            alerts += [(_alert_name(a.labels, a.summary), a.dedup_key) for a in event.alerts]
    if opened is None:
        raise ValueError(f"incident {incident_id}: no opening")
    resolved_at, automatic = resolution if resolution is not None else (None, False)
    return incident_facts(
        incident_id=incident_id,
        service_id=service_id,
        opened_at=opened,
        first_acknowledged_at=acknowledged,
        resolved_at=resolved_at,
        resolved_automatically=automatic,
        escalated=escalated,
        alerts=alerts,
    )


def incident_facts(
    *,
    incident_id: int,
    service_id: int,
    opened_at: datetime,
    first_acknowledged_at: datetime | None,
    resolved_at: datetime | None,
    resolved_automatically: bool,
    escalated: bool,
    alerts: Iterable[tuple[str, str]],
) -> IncidentFacts:
    """The facts, as the events or the incident's row give them."""
    acknowledged = first_acknowledged_at
    if acknowledged is not None and resolved_at is not None and acknowledged > resolved_at:
        acknowledged = None  # after the fact: nobody responded to the page
    return IncidentFacts(
        incident_id=incident_id,
        service_id=service_id,
        opened_at=opened_at,
        acknowledged_at=acknowledged,
        resolved_at=resolved_at,
        resolved_automatically=resolved_automatically,
        escalated=escalated,
        alerts=tuple(sorted(alerts)),
        time_to_acknowledge=None if acknowledged is None else _seconds(acknowledged - opened_at),
        time_to_resolve=None if resolved_at is None else _seconds(resolved_at - opened_at),
    )


@dataclass(frozen=True, slots=True)
class AlertCount:
    key: str
    count: int


@dataclass(frozen=True, slots=True)
class IncidentStats:
    incidents: int
    acknowledged: int
    resolved: int
    mtta: Summary  # seconds from opening to the first acknowledgement
    mttr: Summary  # seconds from opening to resolution
    escalated: int
    escalation_rate: float | None
    flapping: int
    out_of_hours: int
    out_of_hours_share: float | None
    noisiest_alerts: tuple[AlertCount, ...]  # by alert name (``alertname`` label or summary)
    noisiest_dedup_keys: tuple[AlertCount, ...]


def _noisiest(counter: Counter[str]) -> tuple[AlertCount, ...]:
    ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return tuple(AlertCount(key, count) for key, count in ranked[:NOISIEST])


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def incident_stats(
    incidents: Iterable[IncidentFacts], since: datetime, until: datetime, zone: str
) -> IncidentStats:
    """The figures of the incidents opened in the window (the others are ignored)."""
    tz = ZoneInfo(zone)
    chosen = [i for i in incidents if _in(i.opened_at, since, until)]
    tta = [t for i in chosen if (t := i.time_to_acknowledge) is not None]
    ttr = [t for i in chosen if (t := i.time_to_resolve) is not None]
    escalated = sum(i.escalated for i in chosen)
    out_of_hours = sum(category_at(i.opened_at, tz) is not LoadCategory.BUSINESS for i in chosen)
    names: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    for incident in chosen:
        for name, key in incident.alerts:
            names[name] += 1
            keys[key] += 1
    return IncidentStats(
        incidents=len(chosen),
        acknowledged=len(tta),
        resolved=len(ttr),
        mtta=summarize(tta),
        mttr=summarize(ttr),
        escalated=escalated,
        escalation_rate=_share(escalated, len(chosen)),
        flapping=sum(i.flapping for i in chosen),
        out_of_hours=out_of_hours,
        out_of_hours_share=_share(out_of_hours, len(chosen)),
        noisiest_alerts=_noisiest(names),
        noisiest_dedup_keys=_noisiest(keys),
    )


# -------------------------------------------------------------------------------------- series


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: date  # the local date in the report's zone
    incidents: int


@dataclass(frozen=True, slots=True)
class WeekPoint:
    week_start: date  # the local Monday
    incidents: int
    mtta_median: float | None
    mtta_mean: float | None
    mttr_median: float | None
    mttr_mean: float | None


@dataclass(frozen=True, slots=True)
class Series:
    """Chart-ready: every local day and week of the window, empty ones included."""

    per_day: tuple[DayPoint, ...]
    per_week: tuple[WeekPoint, ...]


def series(
    incidents: Iterable[IncidentFacts], since: datetime, until: datetime, zone: str
) -> Series:
    tz = ZoneInfo(zone)
    chosen = [i for i in incidents if _in(i.opened_at, since, until)]
    first = since.astimezone(tz).date()
    last = (until - timedelta(microseconds=1)).astimezone(tz).date()
    per_day: Counter[date] = Counter(i.opened_at.astimezone(tz).date() for i in chosen)
    days = []
    day = first
    while day <= last:
        days.append(DayPoint(day, per_day[day]))
        day += _DAY
    by_week: dict[date, list[IncidentFacts]] = {}
    for incident in chosen:
        local = incident.opened_at.astimezone(tz).date()
        by_week.setdefault(local - timedelta(days=local.weekday()), []).append(incident)
    weeks = []
    week = first - timedelta(days=first.weekday())
    while week <= last:
        found = by_week.get(week, [])
        tta = summarize(t for i in found if (t := i.time_to_acknowledge) is not None)
        ttr = summarize(t for i in found if (t := i.time_to_resolve) is not None)
        weeks.append(WeekPoint(week, len(found), tta.median, tta.mean, ttr.median, ttr.mean))
        week += _WEEK
    return Series(per_day=tuple(days), per_week=tuple(weeks))


# ---------------------------------------------------------------------------------- pager load


# Not frozen: a window makes tens of thousands, and a frozen dataclass's __init__ costs about
# twice as much. Nothing changes them after they are made.
@dataclass(slots=True)
class Interruption:
    """A notification that reached a person: sent (or delivered) at ``at``."""

    user_id: int
    incident_id: int | None
    contact_type: str
    at: datetime
    message_kind: str = "page"


@dataclass(frozen=True, slots=True)
class PersonLoad:
    user_id: int
    name: str
    time_zone: str
    kind: str  # dev, ops or mixed
    interruptions: int  # notifications that reached them
    by_channel: dict[str, int]
    # The interruptions by the hour of their own day (sum: ``interruptions``).
    business: int
    evening: int
    night: int  # sleep hours
    weekend: int
    pages: int  # incidents that interrupted them
    pages_on_call: int  # of those, the ones that came while they were on call
    on_call_hours: float  # responder hours (shadow hours never count)
    on_call_business_hours: float
    on_call_evening_hours: float
    on_call_night_hours: float
    on_call_weekend_hours: float
    shifts: float  # on-call hours in 12-hour shifts
    pages_per_shift: float | None
    over_pages_per_shift: bool  # more than the SRE ceiling of 2
    on_call_share: float  # of the window
    over_on_call_share: bool  # more than the ceiling of 25 %


@dataclass(frozen=True, slots=True)
class LoadStats:
    people: tuple[PersonLoad, ...]  # sorted by user id
    interruptions: int
    pages: int
    on_call_hours: float
    dev_share_of_pages: float | None
    ops_share_of_pages: float | None
    mixed_share_of_pages: float | None
    dev_share_of_on_call_hours: float | None
    ops_share_of_on_call_hours: float | None
    mixed_share_of_on_call_hours: float | None
    pages_per_shift_ceiling: int = PAGES_PER_SHIFT_CEILING
    on_call_share_ceiling: float = ON_CALL_SHARE_CEILING


@dataclass(frozen=True, slots=True)
class _Person:
    name: str
    time_zone: str
    kind: str


def _union(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _clip(shifts: Iterable[Shift], since: datetime, until: datetime) -> list[Shift]:
    clipped = []
    for s in shifts:
        start, end = max(s.start.astimezone(UTC), since), min(s.end.astimezone(UTC), until)
        if start < end:
            clipped.append(
                Shift(start, end, s.user_id, s.shadow, s.source_kind, s.source_id, s.covering)
            )
    return clipped


def person_load(
    user_id: int,
    *,
    name: str,
    time_zone: str,
    kind: str,
    interruptions: Iterable[Interruption],
    shifts: Iterable[Shift],
    since: datetime,
    until: datetime,
) -> PersonLoad:
    """One person's load: the interruptions that reached them in the window (by channel and by
    the hour of their own day), and their responder shifts clipped to the window."""
    return _person_loads(
        {user_id: _Person(name, time_zone, kind)}, interruptions, shifts, since, until
    )[0]


def _page_key(item: Interruption) -> tuple[int, float]:
    """The incident an interruption was for; a summary of several stands for itself."""
    if item.incident_id is not None:
        return (item.incident_id, 0.0)
    return (-1, item.at.timestamp())


def _person_loads(
    people: Mapping[int, _Person],
    interruptions: Iterable[Interruption],
    shifts: Iterable[Shift],
    since: datetime,
    until: datetime,
) -> list[PersonLoad]:
    mine = [s for s in _clip(shifts, since, until) if s.user_id in people]
    hours = load_by_person(
        mine,
        {u: p.time_zone for u, p in people.items()},
        {u: p.kind for u, p in people.items()},
    )
    window_hours = (until - since) / _HOUR
    received: dict[int, list[Interruption]] = {u: [] for u in people}
    for item in interruptions:
        wanted = item.message_kind in INTERRUPTING_KINDS and _in(item.at, since, until)
        if wanted and item.user_id in received:
            received[item.user_id].append(item)
    on_call = {
        u: _union((s.start, s.end) for s in mine if s.user_id == u and not s.shadow) for u in people
    }
    answers = []
    for user_id in sorted(people):
        person = people[user_id]
        tz = ZoneInfo(person.time_zone)
        items = received[user_id]
        categories = Counter(category_at(i.at, tz) for i in items)
        incidents = {_page_key(i) for i in items}
        while_on_call = {
            _page_key(i) for i in items if any(s <= i.at < e for s, e in on_call[user_id])
        }
        loaded = hours.person(user_id)
        total = loaded.total_hours if loaded else 0.0
        shifts_12 = total / SHIFT_HOURS
        per_shift = len(while_on_call) / shifts_12 if shifts_12 else None
        share = total / window_hours if window_hours else 0.0
        answers.append(
            PersonLoad(
                user_id=user_id,
                name=person.name,
                time_zone=person.time_zone,
                kind=person.kind,
                interruptions=len(items),
                by_channel=dict(sorted(Counter(i.contact_type for i in items).items())),
                business=categories[LoadCategory.BUSINESS],
                evening=categories[LoadCategory.EVENING],
                night=categories[LoadCategory.NIGHT],
                weekend=categories[LoadCategory.WEEKEND],
                pages=len(incidents),
                pages_on_call=len(while_on_call),
                on_call_hours=total,
                on_call_business_hours=loaded.business_hours if loaded else 0.0,
                on_call_evening_hours=loaded.evening_hours if loaded else 0.0,
                on_call_night_hours=loaded.night_hours if loaded else 0.0,
                on_call_weekend_hours=loaded.weekend_hours if loaded else 0.0,
                shifts=shifts_12,
                pages_per_shift=per_shift,
                over_pages_per_shift=per_shift is not None and per_shift > PAGES_PER_SHIFT_CEILING,
                on_call_share=share,
                over_on_call_share=share > ON_CALL_SHARE_CEILING,
            )
        )
    return answers


def load_stats(
    people: Mapping[int, tuple[str, str, str]],
    interruptions: Iterable[Interruption],
    shifts: Iterable[Shift],
    since: datetime,
    until: datetime,
) -> LoadStats:
    """The load of a group of people (``people``: user id -> (name, time zone, kind)), and the
    Dev and Ops shares of their pages and on-call hours."""
    known = {u: _Person(*p) for u, p in people.items()}
    loads = _person_loads(known, interruptions, shifts, since, until)
    pages = sum(p.pages for p in loads)
    hours = math.fsum(p.on_call_hours for p in loads)

    def page_share(kind: str) -> float | None:
        return _share(sum(p.pages for p in loads if p.kind == kind), pages)

    def hour_share(kind: str) -> float | None:
        part = math.fsum(p.on_call_hours for p in loads if p.kind == kind)
        return part / hours if hours else None

    return LoadStats(
        people=tuple(loads),
        interruptions=sum(p.interruptions for p in loads),
        pages=pages,
        on_call_hours=hours,
        dev_share_of_pages=page_share("dev"),
        ops_share_of_pages=page_share("ops"),
        mixed_share_of_pages=page_share("mixed"),
        dev_share_of_on_call_hours=hour_share("dev"),
        ops_share_of_on_call_hours=hour_share("ops"),
        mixed_share_of_on_call_hours=hour_share("mixed"),
    )


# ---------------------------------------------------------------------------------------- DORA


@dataclass(frozen=True, slots=True)
class DeployFacts:
    deployment_id: int
    service_id: int
    environment: str
    status: str  # started, succeeded, failed, rolled_back
    started_at: datetime
    finished_at: datetime | None
    committed_at: datetime | None
    caused_incident: bool  # a responder confirmed it caused an incident
    # When each incident confirmed as caused by it was resolved (None: still open).
    caused_resolved: tuple[datetime | None, ...] = ()

    @property
    def deployed_at(self) -> datetime:
        return self.finished_at or self.started_at

    @property
    def failed_change(self) -> bool:
        return self.caused_incident or self.status in _FAILED_STATUSES


@dataclass(frozen=True, slots=True)
class Dora:
    deployments: int
    deployments_per_day: float
    deployment_frequency_band: str | None
    change_lead_time: Summary  # seconds from commit to deploy, where the commit time is known
    change_lead_time_band: str | None  # of the median
    failed_changes: int
    change_failure_rate: float | None
    change_failure_rate_band: str | None
    recovery_time: Summary  # seconds from the failed deploy to service restored
    unrecovered: int  # failed changes not recovered yet
    recovery_time_band: str | None  # of the median
    report: str = DORA_REPORT
    report_year: int = DORA_YEAR


def _recovered(failed: DeployFacts, later: Sequence[DeployFacts]) -> datetime | None:
    """``deploys.service.verdict_of``'s rule: every caused incident resolved or the next
    successful deploy of the service to the same environment, whichever came first; a rollback
    restored service itself; otherwise the next successful deploy."""
    successes = [
        d.deployed_at
        for d in later
        if d.service_id == failed.service_id
        and d.environment == failed.environment
        and d.started_at > failed.started_at
        and d.status == "succeeded"
    ]
    next_success = min(successes) if successes else None
    if failed.caused_resolved:
        return watch.recovered_at(
            caused_resolved=failed.caused_resolved, next_success_at=next_success
        )
    if failed.status == "rolled_back":
        return failed.finished_at
    return next_success


def _failure_start(deploy: DeployFacts) -> datetime:
    # A rollback's report moves finished_at to the rollback: the change went out at the start.
    return deploy.started_at if deploy.status == "rolled_back" else deploy.deployed_at


def dora(deploys: Sequence[DeployFacts], since: datetime, until: datetime) -> Dora:
    """DORA's four keys for the deploys that reached their environment in the window;
    ``deploys`` may hold later ones too (the next success ends a failed change)."""
    chosen = sorted(
        (d for d in deploys if _in(d.deployed_at, since, until)),
        key=lambda d: (d.started_at, d.deployment_id),
    )
    days = (until - since) / _DAY
    per_day = len(chosen) / days if days else 0.0
    lead = summarize(
        _seconds(d.deployed_at - d.committed_at)
        for d in chosen
        if d.committed_at is not None and d.status == "succeeded"
    )
    failed = [d for d in chosen if d.failed_change]
    recoveries: list[float] = []
    unrecovered = 0
    for deploy in failed:
        at = _recovered(deploy, deploys)
        if at is None:
            unrecovered += 1
        else:
            recoveries.append(_seconds(at - _failure_start(deploy)))
    recovery = summarize(recoveries)
    rate = _share(len(failed), len(chosen))
    return Dora(
        deployments=len(chosen),
        deployments_per_day=per_day,
        deployment_frequency_band=band("deployment_frequency", per_day) if chosen else None,
        change_lead_time=lead,
        change_lead_time_band=band("change_lead_time", lead.median),
        failed_changes=len(failed),
        change_failure_rate=rate,
        change_failure_rate_band=band("change_failure_rate", rate),
        recovery_time=recovery,
        unrecovered=unrecovered,
        recovery_time_band=band("failed_deployment_recovery_time", recovery.median),
    )


# ------------------------------------------------------------------------------------- reports


@dataclass(frozen=True, slots=True)
class ServiceReport:
    service_id: int
    service_name: str
    team_id: int
    time_zone: str  # the team's: business hours and the series' days
    since: datetime
    until: datetime
    incidents: IncidentStats
    dora: Dora
    series: Series


@dataclass(frozen=True, slots=True)
class ServiceSummary:
    service_id: int
    service_name: str
    incidents: IncidentStats
    dora: Dora


@dataclass(frozen=True, slots=True)
class TeamReport:
    team_id: int
    team_name: str
    time_zone: str
    since: datetime
    until: datetime
    incidents: IncidentStats  # of every service the team owns
    services: tuple[ServiceSummary, ...]  # sorted by name
    load: LoadStats  # the team's members and everyone on its schedules
    series: Series


@dataclass(frozen=True, slots=True)
class PersonReport:
    user_id: int
    name: str
    time_zone: str
    kind: str
    since: datetime
    until: datetime
    incidents: IncidentStats  # the incidents they were paged for
    load: PersonLoad
    series: Series
    teams: tuple[int, ...] = field(default=())


def build_service_report(
    *,
    service_id: int,
    service_name: str,
    team_id: int,
    time_zone: str,
    since: datetime,
    until: datetime,
    incidents: Sequence[IncidentFacts],
    deploys: Sequence[DeployFacts],
) -> ServiceReport:
    mine = [i for i in incidents if i.service_id == service_id]
    return ServiceReport(
        service_id=service_id,
        service_name=service_name,
        team_id=team_id,
        time_zone=time_zone,
        since=since,
        until=until,
        incidents=incident_stats(mine, since, until, time_zone),
        dora=dora([d for d in deploys if d.service_id == service_id], since, until),
        series=series(mine, since, until, time_zone),
    )


def build_team_report(
    *,
    team_id: int,
    team_name: str,
    time_zone: str,
    since: datetime,
    until: datetime,
    services: Mapping[int, str],
    incidents: Sequence[IncidentFacts],
    deploys: Sequence[DeployFacts],
    people: Mapping[int, tuple[str, str, str]],
    interruptions: Iterable[Interruption],
    shifts: Iterable[Shift],
) -> TeamReport:
    """``services``: id -> name of the team's services; ``people``: id -> (name, zone, kind)."""
    theirs = [i for i in incidents if i.service_id in services]
    by_service: dict[int, list[IncidentFacts]] = {sid: [] for sid in services}
    for incident in theirs:
        by_service[incident.service_id].append(incident)
    summaries = tuple(
        ServiceSummary(
            service_id=sid,
            service_name=name,
            incidents=incident_stats(by_service[sid], since, until, time_zone),
            dora=dora([d for d in deploys if d.service_id == sid], since, until),
        )
        for sid, name in sorted(services.items(), key=lambda item: (item[1], item[0]))
    )
    return TeamReport(
        team_id=team_id,
        team_name=team_name,
        time_zone=time_zone,
        since=since,
        until=until,
        incidents=incident_stats(theirs, since, until, time_zone),
        services=summaries,
        load=load_stats(people, interruptions, shifts, since, until),
        series=series(theirs, since, until, time_zone),
    )


def build_person_report(
    *,
    user_id: int,
    name: str,
    time_zone: str,
    kind: str,
    since: datetime,
    until: datetime,
    incidents: Sequence[IncidentFacts],
    interruptions: Iterable[Interruption],
    shifts: Iterable[Shift],
    teams: Sequence[int] = (),
) -> PersonReport:
    """``incidents``: the ones the person was paged for."""
    return PersonReport(
        user_id=user_id,
        name=name,
        time_zone=time_zone,
        kind=kind,
        since=since,
        until=until,
        incidents=incident_stats(incidents, since, until, time_zone),
        load=person_load(
            user_id,
            name=name,
            time_zone=time_zone,
            kind=kind,
            interruptions=interruptions,
            shifts=shifts,
            since=since,
            until=until,
        ),
        series=series(incidents, since, until, time_zone),
        teams=tuple(sorted(teams)),
    )
