"""Deploys are kept as long as incidents (BATON_INCIDENT_RETENTION_DAYS): older ones are deleted
by the engine, in batches, except those an unresolved incident still names."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.core.settings import Environment, Settings
from app.deploys import retention
from app.deploys.models import Deployment, DeploySource, DeployStatus, IncidentDeploy
from app.incidents.models import Incident
from app.main import _build_engine
from tests.factories import Actor, Factory

DEFAULT = timedelta(days=Settings(env=Environment.TEST).incident_retention_days)


async def _call(client: httpx.AsyncClient, admin: Actor, method: str, path: str, **kw: Any) -> Any:
    answer = await client.request(method, path, headers=admin.headers, **kw)
    assert answer.status_code < 300, answer.text
    return answer.json()


async def _versions(db: Database) -> list[str]:
    async with db.transaction() as session:
        return list(await session.scalars(select(Deployment.version).order_by(Deployment.id)))


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_old_deploys_go_unless_an_open_incident_names_them(
    client: httpx.AsyncClient, factory: Factory, db: Database, clock: ManualClock
) -> None:
    assert timedelta(days=730) == DEFAULT
    admin = await factory.actor(Role.ADMIN)
    team = await _call(client, admin, "POST", "/api/v1/teams", json={"name": "pay", "kind": "dev"})
    service = await _call(
        client, admin, "POST", "/api/v1/services", json={"name": "api", "team_id": team["id"]}
    )
    start = clock.now()
    async with db.transaction() as session:  # a backlog from long before, in bulk
        for n in range(5):
            session.add(
                Deployment(
                    service_id=service["id"],
                    version=f"v0.{n}",
                    status=DeployStatus.SUCCEEDED,
                    source=DeploySource.API,
                    started_at=start - timedelta(days=1, minutes=n),
                    finished_at=start - timedelta(days=1, minutes=n),
                )
            )

    async def deploy_then_incident(version: str, *, resolve: bool) -> dict[str, Any]:
        await _call(
            client,
            admin,
            "POST",
            "/api/v1/deployments",
            json={"service": "api", "version": version},
        )
        clock.advance(minutes=5)
        incident = await _call(
            client,
            admin,
            "POST",
            "/api/v1/incidents",
            json={"service_id": service["id"], "title": f"after {version}"},
        )
        if resolve:
            await _call(client, admin, "POST", f"/api/v1/incidents/{incident['id']}/resolve")
        return incident

    await deploy_then_incident("v1", resolve=True)
    clock.advance(minutes=55)
    still_open = await deploy_then_incident("v2", resolve=False)
    clock.advance(minutes=55)
    await _call(
        client, admin, "POST", "/api/v1/deployments", json={"service": "api", "version": "v3"}
    )
    assert await _count(db, IncidentDeploy) == 2, "both incidents followed a deploy"

    # v1 started at `start`, v2 an hour later, v3 two hours later.
    clock.set(start + DEFAULT + timedelta(minutes=90))
    assert await retention.prune(db, DEFAULT, batch=2) == 6
    assert await _versions(db) == ["v2", "v3"], "v2 is named by an incident still open"
    assert await _count(db, IncidentDeploy) == 1
    assert await _count(db, Incident) == 2, "incidents themselves are kept"

    await _call(client, admin, "POST", f"/api/v1/incidents/{still_open['id']}/resolve")
    assert await retention.prune(db, DEFAULT, batch=2) == 1
    assert await retention.prune(db, DEFAULT, batch=2) == 0, "idempotent: any replica may run it"
    assert await _versions(db) == ["v3"]
    clock.advance(hours=1)
    assert await retention.prune(db, DEFAULT) == 1
    assert await _versions(db) == []


async def test_the_engine_prunes_deploys_with_the_configured_retention(
    app: FastAPI, settings: Settings, db: Database, clock: ManualClock, factory: Factory
) -> None:
    team = await factory.team(name="ops")
    admin = await factory.actor(Role.ADMIN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://baton.test") as client:
        service = await _call(
            client, admin, "POST", "/api/v1/services", json={"name": "db", "team_id": team.id}
        )
        await _call(
            client, admin, "POST", "/api/v1/deployments", json={"service": "db", "version": "1"}
        )
    assert service["id"]
    clock.advance(days=29)
    configured = settings.model_copy(update={"engine_enabled": True, "incident_retention_days": 30})
    engine = _build_engine(configured, db, app.state.dispatcher, app.state.notifier)
    assert engine is not None
    interval, job = engine._jobs["deploy-prune"]
    assert interval == 3600
    await job()
    assert await _versions(db) == ["1"]
    clock.advance(days=1, seconds=1)
    await job()
    assert await _versions(db) == []


def test_incident_retention_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_INCIDENT_RETENTION_DAYS", "30")
    assert Settings().incident_retention_days == 30
    monkeypatch.setenv("BATON_INCIDENT_RETENTION_DAYS", "0")
    with pytest.raises(ValueError, match="incident_retention_days"):
        Settings()
    example = (Path(__file__).resolve().parents[2] / "config" / "baton.example.env").read_text()
    assert "BATON_INCIDENT_RETENTION_DAYS=730" in example
