"""APScheduler wiring: the engine's jobs run in every replica that enables it.

Jobs never overlap themselves and coalesce missed runs; correctness never depends on a run
happening on time, because each run recomputes what is due from the database and claims it
there (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has a single writer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.audit.service import prune as prune_audit_log
from app.core.db import Database
from app.core.metrics import ENGINE_JOB_ERRORS
from app.deploys.retention import prune as prune_deploys
from app.engine import jobs
from app.incidents.retention import prune as prune_incidents
from app.integrations.service import mark_overdue_heartbeats
from app.notify.dispatcher import Dispatcher
from app.notify.retention import prune as prune_outbox
from app.readiness.nightly import run_nightly as readiness_nightly
from app.review.digest import send_due_digests
from app.review.gauges import refresh_gauges
from app.review.reminders import remind as remind_reviews
from app.schedules.reminders import send_due_reminders

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class EngineIntervals:
    dispatch_seconds: float = 1.0
    escalation_seconds: float = 1.0
    recovery_seconds: float = 10.0
    maintenance_seconds: float = 15.0
    heartbeat_seconds: float = 10.0
    self_check_seconds: float = 15.0
    reminder_seconds: float = 60.0
    audit_prune_seconds: float = 3600.0
    deploy_prune_seconds: float = 3600.0
    review_reminder_seconds: float = 60.0
    # Digests are due at a wall time; a few minutes late is on time for a weekly summary.
    digest_seconds: float = 300.0
    readiness_seconds: float = 600.0
    metrics_refresh_seconds: float = 300.0


@dataclass
class _Runner:
    """Runs one job at a time; a wake-up during a run makes it run once more right after."""

    name: str
    work: Job
    running: bool = False
    again: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def __call__(self) -> None:
        if self.running:
            self.again = True
            return
        self.running = True
        self.task = asyncio.current_task()  # type: ignore[assignment]
        try:
            while True:
                self.again = False
                try:
                    await self.work()
                except Exception:
                    ENGINE_JOB_ERRORS.labels(job=self.name).inc()
                    log.exception("engine job failed", extra={"job": self.name})
                if not self.again:
                    break
        finally:
            self.running = False
            self.task = None


def _as_coroutine_function(runner: _Runner) -> Callable[[], Awaitable[None]]:
    # APScheduler runs only real coroutine functions on the event loop; any other callable
    # (such as an object with an async __call__) would be sent to a thread and never awaited.
    async def job() -> None:
        try:
            await runner()
        except asyncio.CancelledError:
            # The process stops mid-run, past the grace ``Engine.stop`` gave it: the run's
            # transaction rolls back and the next start does that work again. APScheduler would
            # log a job error with its traceback on every such restart.
            log.info("engine job stopped mid-run", extra={"job": runner.name})

    job.__name__ = f"engine_{runner.name}"
    return job


# Long-interval jobs whose first run should not wait a whole interval after a start: the
# readiness scores (and their gauge) of a fresh or restarted replica.
RUN_SOON_AFTER_START: dict[str, timedelta] = {"readiness-nightly": timedelta(seconds=30)}


class Engine:
    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        *,
        intervals: EngineIntervals | None = None,
        extra_jobs: dict[str, tuple[float, Job]] | None = None,
        audit_retention: timedelta = timedelta(days=400),
        incident_retention: timedelta = timedelta(days=730),
        payload_retention: timedelta = timedelta(days=30),
        receipt_retention: timedelta = timedelta(days=7),
    ) -> None:
        self.db = db
        self.dispatcher = dispatcher
        self.intervals = intervals or EngineIntervals()
        self.last_self_check: list[str] = []
        self._scheduler: AsyncIOScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runners: dict[str, _Runner] = {}
        self._wakeups: set[asyncio.Task[None]] = set()
        self._jobs: dict[str, tuple[float, Job]] = {
            "dispatch": (self.intervals.dispatch_seconds, dispatcher.run),
            "escalate": (self.intervals.escalation_seconds, lambda: jobs.escalation_tick(db)),
            "recover": (self.intervals.recovery_seconds, dispatcher.fail_stale_sends),
            "maintenance": (
                self.intervals.maintenance_seconds,
                lambda: jobs.release_maintenance(db),
            ),
            "heartbeats": (self.intervals.heartbeat_seconds, lambda: mark_overdue_heartbeats(db)),
            "self-check": (self.intervals.self_check_seconds, self.run_self_check),
            "reminders": (
                self.intervals.reminder_seconds,
                lambda: send_due_reminders(db),
            ),
            "audit-prune": (
                self.intervals.audit_prune_seconds,
                lambda: prune_audit_log(db, audit_retention),
            ),
            "deploy-prune": (
                self.intervals.deploy_prune_seconds,
                lambda: prune_deploys(db, incident_retention),
            ),
            # Resolved incidents past retention, with their timeline, alerts and pages.
            "incident-prune": (
                self.intervals.deploy_prune_seconds,
                lambda: prune_incidents(db, incident_retention),
            ),
            # Sent messages' payloads, outbox rows for no incident, inbound receipts.
            "outbox-prune": (
                self.intervals.deploy_prune_seconds,
                lambda: prune_outbox(
                    db,
                    payload_retention=payload_retention,
                    receipt_retention=receipt_retention,
                    history_retention=incident_retention,
                ),
            ),
            "weekly-digest": (self.intervals.digest_seconds, lambda: send_due_digests(db)),
            # Nightly readiness evaluations and handback proposals, once across replicas.
            "readiness-nightly": (
                self.intervals.readiness_seconds,
                lambda: readiness_nightly(db),
            ),
            "metrics-refresh": (
                self.intervals.metrics_refresh_seconds,
                lambda: refresh_gauges(db),
            ),
            # Action items due or overdue, reviews owed: each reminder once (app/review).
            "review-reminders": (
                self.intervals.review_reminder_seconds,
                lambda: remind_reviews(db),
            ),
            **(extra_jobs or {}),
        }

    async def run_self_check(self) -> None:
        """Look for work the engine should have done by now (also a periodic job)."""
        self.last_self_check = await jobs.self_check(self.db)

    async def readiness(self) -> list[str]:
        return [f"engine: {problem}" for problem in self.last_self_check]

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        scheduler = AsyncIOScheduler(timezone=UTC)
        # APScheduler keeps the wall clock (not the injected one): its triggers are real time.
        started = datetime.now(UTC)
        for name, (seconds, work) in self._jobs.items():
            runner = self._runners[name] = _Runner(name, work)
            extra: dict[str, Any] = {}
            if name in RUN_SOON_AFTER_START:
                extra["next_run_time"] = started + RUN_SOON_AFTER_START[name]
            scheduler.add_job(
                _as_coroutine_function(runner),
                "interval",
                seconds=seconds,
                id=name,
                name=name,
                max_instances=2,  # the runner itself refuses to overlap; never log a skip
                coalesce=True,
                misfire_grace_time=None,
                **extra,
            )
        scheduler.start()
        self._scheduler = scheduler
        self.db.dispatcher_wake = self.wake_dispatcher
        log.info("engine started", extra={"jobs": sorted(self._jobs)})

    def wake_dispatcher(self) -> None:
        """Called after a commit that queued notifications: send them now, not at the next tick."""
        runner = self._runners.get("dispatch")
        if runner is None or self._loop is None:
            return
        if runner.running:
            runner.again = True
            return
        task = self._loop.create_task(runner())
        self._wakeups.add(task)
        task.add_done_callback(self._wakeups.discard)

    async def stop(self, grace_seconds: float = 20.0) -> None:
        self.db.dispatcher_wake = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        running = [r.task for r in self._runners.values() if r.task is not None]
        if running:
            # Let in-flight sends finish and record their outcome before the process exits.
            await asyncio.wait(running, timeout=grace_seconds)
        log.info("engine stopped")
