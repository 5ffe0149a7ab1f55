"""The engine as it runs in ``baton serve``: APScheduler jobs on the event loop."""

from __future__ import annotations

import httpx
import pytest

from app.core.clock import ManualClock
from app.core.db import Database
from app.core.settings import Settings
from app.main import Overrides, create_app
from app.notify.console import ConsoleProvider
from tests.conftest import PUBLIC_URL
from tests.engine.conftest import Setup
from tests.fakes.webhook import WebhookReceiver
from tests.paging import caught_up


@pytest.fixture
async def running(settings: Settings, clock: ManualClock, db: Database, console: ConsoleProvider):
    live = settings.model_copy(update={"engine_enabled": True, "engine_tick_seconds": 0.05})
    application = create_app(
        live, clock=clock, overrides=Overrides(database=db, providers={"console": console})
    )
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
            yield application, http


async def test_scheduled_jobs_page_and_escalate_without_help(
    running, setup: Setup, clock: ManualClock, db: Database, webhook_receiver: WebhookReceiver
) -> None:
    _, http = running
    r = await http.post(
        "/api/v1/integrations/generic",
        json={"summary": "queue stuck"},
        headers={"Authorization": f"Bearer {await _generic_key(http, setup)}"},
    )
    assert r.status_code == 202
    # Woken right after the commit: no tick needed for the first page.
    await webhook_receiver.expect_event("queue stuck", path="/alice", timeout=5)
    clock.advance(minutes=5)
    await webhook_receiver.expect_event("queue stuck", path="/bob", timeout=5)
    await caught_up(db)
    webhook_receiver.assert_nothing_sent()
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text


async def _generic_key(http: httpx.AsyncClient, setup: Setup) -> str:
    r = await http.post(
        f"/api/v1/services/{setup.service['id']}/integrations",
        json={"kind": "generic", "name": "g"},
        headers=setup.admin.headers,
    )
    return r.json()["key"]


async def test_retries_leave_on_the_periodic_dispatch(
    running, setup: Setup, clock: ManualClock, db: Database, webhook_receiver: WebhookReceiver
) -> None:
    _, http = running
    webhook_receiver.fail(500, times=1, path="/alice")
    r = await http.post(
        "/api/v1/integrations/generic",
        json={"summary": "flaky"},
        headers={"Authorization": f"Bearer {await _generic_key(http, setup)}"},
    )
    assert r.status_code == 202
    await caught_up(db)  # the first attempt failed and its retry waits for its time
    assert [request.status for request in webhook_receiver.requests] == [500]
    clock.advance(seconds=6)
    await webhook_receiver.expect_event("flaky", path="/alice", timeout=5)


async def test_a_stuck_engine_shows_in_metrics_and_readyz(
    running, setup: Setup, clock: ManualClock, webhook_receiver: WebhookReceiver
) -> None:
    """Escalations nobody ran are reported, before someone misses a page."""
    application, http = running
    r = await http.post(
        "/api/v1/integrations/generic",
        json={"summary": "payments down"},
        headers={"Authorization": f"Bearer {await _generic_key(http, setup)}"},
    )
    assert r.status_code == 202
    await webhook_receiver.expect_event("payments down", path="/alice", timeout=5)
    engine = application.state.engine
    await engine.stop()  # the engine hangs: nothing escalates any more
    clock.advance(minutes=6)
    await engine.run_self_check()  # what the periodic self-check would find
    ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert any("past their next escalation" in p for p in ready.json()["problems"])
    metrics = (await http.get("/metrics")).text
    assert "baton_engine_overdue_escalations 1.0" in metrics
