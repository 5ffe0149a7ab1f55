"""The deploy watch, pure: which deploy an incident opened after, and what a deploy's verdict is.

A deploy is watched while it runs and for the service's watch minutes after it finished. A
deploy nobody reported finished counts as running for at most :data:`LONGEST_RUN`, so a
pipeline that died without a word does not make every later incident "after that deploy".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

LONGEST_RUN = timedelta(hours=6)
# How far ahead of the receiving clock a reported time may be: a CI runner's clock drifts, a
# day is a mistake (a wrong time zone, a wrong year).
LARGEST_CLOCK_SKEW = timedelta(days=1)


class Verdict(StrEnum):
    CLEAN = "clean"  # no incident opened in its watch (or every one was judged not related)
    SUSPECT = "suspect"  # incidents opened in its watch, not judged yet
    FAILED = "failed"  # confirmed as a cause, or reported failed or rolled back


@dataclass(frozen=True, slots=True)
class Run:
    """When a deploy ran, as far as its reports tell."""

    started_at: datetime
    finished_at: datetime | None

    def watched_until(self, watch: timedelta) -> datetime:
        ended = self.finished_at or self.started_at + LONGEST_RUN
        return ended + watch

    def watches(self, at: datetime, watch: timedelta) -> bool:
        return self.started_at <= at <= self.watched_until(watch)


def earliest_start_watching(at: datetime, watch: timedelta) -> datetime:
    """No deploy that started before this can still be watched at ``at`` (an index bound)."""
    return at - LONGEST_RUN - watch


def minutes_between(earlier: datetime, later: datetime) -> int:
    return max(0, int((later - earlier).total_seconds() // 60))


def verdict(*, reported_failed: bool, judgements: Iterable[str]) -> Verdict:
    """``judgements``: the verdict of each incident linked to the deploy (suspected/confirmed/
    rejected)."""
    said = set(judgements)
    if reported_failed or "confirmed" in said:
        return Verdict.FAILED
    if "suspected" in said:
        return Verdict.SUSPECT
    return Verdict.CLEAN


def recovered_at(
    *, caused_resolved: Iterable[datetime | None], next_success_at: datetime | None
) -> datetime | None:
    """When service was restored after a failed change: every incident it caused resolved, or a
    later successful deploy of the service, whichever came first (None: not yet)."""
    resolved = list(caused_resolved)
    times = [t for t in resolved if t is not None]
    all_resolved = max(times) if times and len(times) == len(resolved) else None
    candidates = [t for t in (all_resolved, next_success_at) if t is not None]
    return min(candidates) if candidates else None


def is_in_future(at: datetime, now: datetime) -> bool:
    return at > now + LARGEST_CLOCK_SKEW
