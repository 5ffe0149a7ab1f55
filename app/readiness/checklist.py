"""Launch requirements and handback criteria: pure rules over a service's facts.

A checklist is a list of weighted items. Automatic items are judged from the facts Baton
gathered about a service (``ServiceFacts``); sign-off items are met by a named person's
sign-off. The score is the sum of the weights met (the weights sum to 100). The band:
``failing`` below 50; ``passing`` when every required item is met (and the score is at least
50); ``needs_attention`` otherwise. Only the required items gate a hand-over to Ops.

The handback criteria judge an Ops-supported service's trailing window (``LoadFacts``); each
one breached is a ``Breach`` with its evidence.

No I/O, settings or clock: the caller passes ``now`` inside the facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

PASSING_SCORE = 100
FAILING_BELOW = 50
MAX_ITEMS = 50
SHIFT_HOURS = 12
# Sleep hours on the responder's own clock: [22:00, 09:00), the pager-load "night".
SLEEP_STARTS = 22
SLEEP_ENDS = 9


class ItemKind(StrEnum):
    AUTOMATIC = "automatic"
    SIGN_OFF = "sign_off"


class Band(StrEnum):
    FAILING = "failing"
    NEEDS_ATTENTION = "needs_attention"
    PASSING = "passing"


# The automatic checks, with the parameters each takes and their defaults.
AUTOMATIC_CHECKS: Mapping[str, Mapping[str, float]] = {
    "owner_team": {},
    "runbook": {},
    "escalation_policy": {"min_steps": 2},
    "schedule_coverage": {"days": 14},
    "developer_on_rotation": {},
    "integration_alerts": {"days": 30},
    "deploy_events": {"days": 30},
    "self_managed": {"weeks": 6},
    "pager_load": {"max_pages_per_shift": 2, "days": 28},
    "reviews_current": {},
    "change_failure_rate": {"days": 30},
}


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    title: str
    kind: ItemKind
    weight: int
    required: bool = True
    # For an automatic item: which check (``AUTOMATIC_CHECKS``; defaults to the key).
    check: str = ""
    params: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    @property
    def check_name(self) -> str:
        return self.check or self.key

    def param(self, name: str) -> float:
        if name in self.params:
            return float(self.params[name])
        return float(AUTOMATIC_CHECKS[self.check_name][name])


def _auto(key: str, title: str, weight: int, *, required: bool = True) -> Item:
    return Item(key, title, ItemKind.AUTOMATIC, weight, required)


def _sign(key: str, title: str, weight: int, *, required: bool = True) -> Item:
    return Item(key, title, ItemKind.SIGN_OFF, weight, required)


# The organisation's default, used until an admin sets another (weights sum to 100).
DEFAULT_ITEMS: tuple[Item, ...] = (
    _auto("owner_team", "An owner team with members", 5),
    _auto("runbook", "A runbook URL", 5),
    _auto("escalation_policy", "An escalation policy with at least two steps", 10),
    _auto("schedule_coverage", "Schedules cover the next 14 days with no gaps", 10),
    _auto("developer_on_rotation", "A developer of the owner team is on the rotation", 5),
    _auto("integration_alerts", "Alerts arrive through an integration (last 30 days)", 5),
    _auto(
        "deploy_events", "Deploys are reported as change events (last 30 days)", 5, required=False
    ),
    _auto("self_managed", "Run by its developers for at least 6 weeks", 10),
    _auto("pager_load", "At most 2 pages per 12-hour shift (last 4 weeks)", 10),
    _auto("reviews_current", "No review owed and no overdue action item", 5),
    _auto(
        "change_failure_rate", "Change failure rate not in DORA's lowest band", 5, required=False
    ),
    _sign("monitoring", "Monitoring coverage reviewed", 5),
    _sign("rollback", "Rollback documented and rehearsed", 5),
    _sign("capacity", "Capacity plan", 5, required=False),
    _sign("dependencies", "Dependencies known", 5, required=False),
    _sign("data", "Data and regulatory needs reviewed", 5),
)


def merge(organisation: Sequence[Item], team: Sequence[Item]) -> tuple[Item, ...]:
    """A team's checklist: the organisation's items, each replaced by the team's item of the
    same key, then the team's own items in their order."""
    theirs = {item.key: item for item in team}
    merged = [theirs.pop(item.key, item) for item in organisation]
    return (*merged, *(item for item in team if item.key in theirs))


def problems(items: Sequence[Item], *, whole: bool = True) -> list[str]:
    """What is wrong with a checklist (``whole``: it must sum to 100; a team's additions are
    checked as part of the merged list by the caller)."""
    found: list[str] = []
    seen: set[str] = set()
    if len(items) > MAX_ITEMS:
        found.append(f"a checklist holds at most {MAX_ITEMS} items")
    for item in items:
        if item.key in seen:
            found.append(f"item {item.key!r} appears twice")
        seen.add(item.key)
        if not 0 <= item.weight <= 100:
            found.append(f"item {item.key!r}: weight {item.weight} is outside 0-100")
        if item.kind is ItemKind.AUTOMATIC:
            check = AUTOMATIC_CHECKS.get(item.check_name)
            if check is None:
                found.append(
                    f"item {item.key!r}: no automatic check {item.check_name!r} "
                    f"(known: {', '.join(AUTOMATIC_CHECKS)})"
                )
                continue
            for name, value in item.params.items():
                if name not in check:
                    found.append(f"item {item.key!r}: {item.check_name} takes no {name!r}")
                elif not 0 <= value <= 10_000:
                    found.append(f"item {item.key!r}: {name} {value} is outside 0-10000")
    total = sum(item.weight for item in items)
    if whole and total != 100:
        found.append(f"the weights sum to {total}, not 100")
    return found


# ----------------------------------------------------------------------------------- the facts


@dataclass(frozen=True, slots=True)
class SignOff:
    by: str  # the person's name
    on: date
    comment: str


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    """What Baton knows about a service at ``now``, over each item's own window."""

    now: datetime
    support_model: str
    owner_team: str | None
    owner_team_members: int
    runbook_url: str
    policy: str | None
    policy_steps: int  # steps that page someone
    schedules: tuple[str, ...]  # the schedules the policy pages
    # Schedule name -> uncovered minutes over the coverage window.
    uncovered_minutes: Mapping[str, float]
    developers_on_rotation: tuple[str, ...]
    alerts_via_integration: int
    deploys_reported: int
    # When the developers began running it themselves (None: Ops runs it now).
    dev_since: datetime | None
    pages: int
    shifts: float
    reviews_owed: int
    overdue_items: int
    deploys_in_failure_window: int
    change_failure_rate: float | None
    change_failure_rate_band: str | None
    sign_offs: Mapping[str, SignOff]


@dataclass(frozen=True, slots=True)
class Result:
    key: str
    title: str
    kind: ItemKind
    required: bool
    weight: int
    met: bool
    evidence: str

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "title": self.title,
            "kind": self.kind.value,
            "required": self.required,
            "weight": self.weight,
            "met": self.met,
            "evidence": self.evidence,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Result:
        return cls(
            key=str(data["key"]),
            title=str(data["title"]),
            kind=ItemKind(str(data["kind"])),
            required=bool(data["required"]),
            weight=int(str(data["weight"])),
            met=bool(data["met"]),
            evidence=str(data["evidence"]),
        )


@dataclass(frozen=True, slots=True)
class Evaluation:
    score: int
    band: Band
    results: tuple[Result, ...]

    @property
    def failing_required(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.required and not r.met)

    @property
    def handover_allowed(self) -> bool:
        return not self.failing_required


def counted_shifts(shifts: float) -> float:
    """A window shorter than one shift counts as one: a service a few hours old with two pages
    has had two pages in its first shift, not thousands per shift."""
    return max(shifts, 1.0)


def band_of(score: int, required_met: bool) -> Band:
    if score < FAILING_BELOW:
        return Band.FAILING
    return Band.PASSING if required_met else Band.NEEDS_ATTENTION


def _plural(count: float, one: str, many: str | None = None) -> str:
    word = one if count == 1 else (many or one + "s")
    shown = f"{count:g}" if isinstance(count, float) else str(count)
    return f"{shown} {word}"


def _names(names: Iterable[str]) -> str:
    return ", ".join(names)


def _judge(item: Item, facts: ServiceFacts) -> tuple[bool, str]:
    """Whether an automatic item is met, and the evidence (a sentence with the figures)."""
    check = item.check_name
    if check == "owner_team":
        if facts.owner_team is None:
            return False, "no owner team"
        members = _plural(facts.owner_team_members, "member")
        return facts.owner_team_members > 0, f"owned by {facts.owner_team} ({members})"
    if check == "runbook":
        if facts.runbook_url:
            return True, f"runbook at {facts.runbook_url}"
        return False, "no runbook URL"
    if check == "escalation_policy":
        wanted = int(item.param("min_steps"))
        if facts.policy is None:
            return False, "no escalation policy"
        steps = _plural(facts.policy_steps, "step")
        verb = "pages" if facts.policy_steps == 1 else "page"
        return (
            facts.policy_steps >= wanted,
            f"{facts.policy}: {steps} that {verb} someone (at least {wanted} needed)",
        )
    if check == "schedule_coverage":
        days = int(item.param("days"))
        if not facts.schedules:
            return False, "the escalation policy pages no schedule"
        holes = {n: m for n, m in facts.uncovered_minutes.items() if m > 0}
        if holes:
            said = "; ".join(f"{n}: {m:g} min uncovered" for n, m in sorted(holes.items()))
            return False, f"gaps in the next {days} days: {said}"
        return True, f"{_names(facts.schedules)} cover the next {days} days with no gap"
    if check == "developer_on_rotation":
        if facts.developers_on_rotation:
            return True, f"on the rotation: {_names(facts.developers_on_rotation)}"
        if not facts.schedules:
            return False, "the escalation policy pages no schedule"
        return False, f"no member of {facts.owner_team or 'the owner team'} is on the rotation"
    if check == "integration_alerts":
        days = int(item.param("days"))
        count = facts.alerts_via_integration
        said = f"{_plural(count, 'alert')} through an integration in the last {days} days"
        return count > 0, said
    if check == "deploy_events":
        days = int(item.param("days"))
        count = facts.deploys_reported
        return count > 0, f"{_plural(count, 'deploy')} reported in the last {days} days"
    if check == "self_managed":
        weeks = item.param("weeks")
        if facts.dev_since is None:
            return False, "supported by Ops, not run by its developers"
        held = (facts.now - facts.dev_since) / timedelta(weeks=1)
        return (
            held >= weeks,
            f"run by its developers for {held:.1f} weeks since "
            f"{facts.dev_since.date().isoformat()} (at least {weeks:g} needed)",
        )
    if check == "pager_load":
        ceiling = item.param("max_pages_per_shift")
        days = int(item.param("days"))
        shifts = counted_shifts(facts.shifts)
        rate = facts.pages / shifts
        return rate <= ceiling, (
            f"{rate:.1f} pages per shift over the last {days} days: "
            f"{_plural(facts.pages, 'page')} in {_plural(round(shifts, 1), 'shift')} "
            f"(at most {ceiling:g})"
        )
    if check == "reviews_current":
        owed, overdue = facts.reviews_owed, facts.overdue_items
        said = f"{_plural(owed, 'review')} owed, {_plural(overdue, 'action item')} overdue"
        return owed == 0 and overdue == 0, said
    if check == "change_failure_rate":
        days = int(item.param("days"))
        if facts.change_failure_rate is None:
            return True, f"no deploy in the last {days} days"
        rate = facts.change_failure_rate
        band = facts.change_failure_rate_band
        deploys = _plural(facts.deploys_in_failure_window, "deploy")
        return band != "low", (
            f"change failure rate {rate:.0%} over {deploys} in the last {days} days "
            f"(DORA band: {band})"
        )
    raise ValueError(f"no automatic check {check!r}")


def evaluate(items: Sequence[Item], facts: ServiceFacts) -> Evaluation:
    results = []
    for item in items:
        if item.kind is ItemKind.SIGN_OFF:
            signed = facts.sign_offs.get(item.key)
            met = signed is not None
            evidence = (
                f"signed off by {signed.by} on {signed.on.isoformat()}"
                + (f": {signed.comment}" if signed.comment else "")
                if signed is not None
                else "not signed off"
            )
        else:
            met, evidence = _judge(item, facts)
        results.append(
            Result(item.key, item.title, item.kind, item.required, item.weight, met, evidence)
        )
    score = sum(r.weight for r in results if r.met)
    required_met = all(r.met for r in results if r.required)
    return Evaluation(min(score, 100), band_of(score, required_met), tuple(results))


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    title: str
    was_met: bool | None  # None: the item is new
    met: bool
    was_evidence: str | None
    evidence: str


def changes(before: Sequence[Result], after: Sequence[Result]) -> list[Change]:
    """The items whose outcome changed from one evaluation to the next."""
    earlier = {r.key: r for r in before}
    found = []
    for result in after:
        was = earlier.get(result.key)
        if was is None or was.met != result.met:
            found.append(
                Change(
                    result.key,
                    result.title,
                    None if was is None else was.met,
                    result.met,
                    None if was is None else was.evidence,
                    result.evidence,
                )
            )
    return found


# --------------------------------------------------------------------------------- handback


def sleep_hour(at: datetime, zone: str) -> bool:
    """Whether an instant falls in sleep hours on a wall clock in ``zone`` (any weekday)."""
    try:
        hour = at.astimezone(ZoneInfo(zone)).hour
    except (ValueError, KeyError):
        hour = at.hour
    return hour >= SLEEP_STARTS or hour < SLEEP_ENDS


@dataclass(frozen=True, slots=True)
class HandbackThresholds:
    window_days: int = 14
    max_pages_per_shift: float = 2.0
    max_sleep_pages: int = 4  # in the window; more is a breach
    mttr_worsening_percent: float = 50.0
    lowest_failure_band: bool = True  # a change failure rate in DORA's lowest band breaches
    overdue_action_items: bool = True  # any overdue action item breaches
    grace_days: int = 7  # an unanswered proposal's wait before a service that allows it moves

    def with_values(self, values: Mapping[str, object]) -> HandbackThresholds:
        return replace(self, **values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LoadFacts:
    """An Ops-supported service's trailing window, and the window before it (for MTTR)."""

    since: datetime
    until: datetime
    pages: int
    shifts: float
    sleep_pages: int
    mttr_seconds: float | None
    resolved: int
    mttr_before_seconds: float | None
    resolved_before: int
    deploys: int
    change_failure_rate: float | None
    change_failure_rate_band: str | None
    overdue_items: int


@dataclass(frozen=True, slots=True)
class Breach:
    key: str
    title: str
    evidence: str

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "title": self.title, "evidence": self.evidence}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def breaches(facts: LoadFacts, limits: HandbackThresholds) -> list[Breach]:
    """The handback criteria the window breaches (empty: the service stays with Ops)."""
    days = limits.window_days
    found: list[Breach] = []
    shifts = counted_shifts(facts.shifts)
    rate = facts.pages / shifts
    if rate > limits.max_pages_per_shift:
        found.append(
            Breach(
                "pager_load",
                f"More than {limits.max_pages_per_shift:g} pages per 12-hour shift",
                f"{rate:.1f} pages per shift over the last {days} days: "
                f"{_plural(facts.pages, 'page')} in {_plural(round(shifts, 1), 'shift')}",
            )
        )
    if facts.sleep_pages > limits.max_sleep_pages:
        found.append(
            Breach(
                "sleep_pages",
                f"More than {_plural(limits.max_sleep_pages, 'sleep-hour page')}",
                f"{_plural(facts.sleep_pages, 'page')} in sleep hours (22:00-09:00 on the "
                f"responder's clock) over the last {days} days",
            )
        )
    if (
        facts.mttr_seconds is not None
        and facts.mttr_before_seconds is not None
        and facts.mttr_before_seconds > 0
    ):
        worse = (facts.mttr_seconds / facts.mttr_before_seconds - 1) * 100
        if worse > limits.mttr_worsening_percent:
            found.append(
                Breach(
                    "mttr",
                    f"MTTR worse by more than {limits.mttr_worsening_percent:g} %",
                    f"MTTR {_minutes(facts.mttr_seconds)} over the last {days} days "
                    f"({_plural(facts.resolved, 'incident')}) against "
                    f"{_minutes(facts.mttr_before_seconds)} the {days} days before "
                    f"({_plural(facts.resolved_before, 'incident')}): {worse:+.0f} %",
                )
            )
    if limits.lowest_failure_band and facts.change_failure_rate_band == "low":
        rate = facts.change_failure_rate or 0.0
        found.append(
            Breach(
                "change_failure_rate",
                "Change failure rate in DORA's lowest band",
                f"change failure rate {rate:.0%} over {_plural(facts.deploys, 'deploy')} "
                f"in the last {days} days",
            )
        )
    if limits.overdue_action_items and facts.overdue_items > 0:
        found.append(
            Breach(
                "overdue_items",
                "Overdue action items",
                f"{_plural(facts.overdue_items, 'action item')} from its reviews past due",
            )
        )
    return found
