"""Stopping the process while an engine job runs is not a job error."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.engine.scheduler import _as_coroutine_function, _Runner


async def test_a_job_cancelled_mid_run_at_shutdown_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()

    async def escalation_tick() -> None:
        started.set()
        await asyncio.Event().wait()  # a run still busy when the process stops

    runner = _Runner("escalate", escalation_tick)
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(_as_coroutine_function(runner), "interval", seconds=0.01, id="escalate")
    caplog.set_level(logging.INFO)
    scheduler.start()
    try:
        await asyncio.wait_for(started.wait(), timeout=5)
        assert runner.task is not None
        runner.task.cancel()  # what the event loop does to tasks left at its close
        await asyncio.wait([runner.task], timeout=5)
    finally:
        scheduler.shutdown(wait=False)
    assert runner.task is None and not runner.running, "the runner is free again"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    stopped = [r for r in caplog.records if r.getMessage() == "engine job stopped mid-run"]
    assert [getattr(r, "job", None) for r in stopped] == ["escalate"]
