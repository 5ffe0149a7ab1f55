"""``baton apply`` sets a service's deploy watch; the file stays the truth across applies, and
deploys (runtime data) are never touched by one."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.catalog.models import Service
from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.core.declarative import Action, ConfigFileError
from app.declarative.apply import apply_config, parse_config
from app.deploys.models import Deployment, DeploySource, DeployStatus
from tests.factories import Factory

BASE = """
teams:
  - {name: payments, kind: dev}
services:
  - name: payments-api
    team: payments
"""
WATCHED = (
    BASE
    + """    deploy_watch_minutes: 45
    deployer_notice: page
    deploy_watch_environments: [production, eu-production]
"""
)


async def _apply(db: Database, text: str, *, prune: bool = False):
    async with db.transaction() as session:
        return await apply_config(session, parse_config(text), prune=prune)


async def _service(db: Database) -> Service:
    async with db.transaction() as session:
        return await session.scalar(select(Service).where(Service.name == "payments-api"))


async def test_the_watch_round_trips_through_apply_and_the_api(
    db: Database, client: httpx.AsyncClient, factory: Factory
) -> None:
    created = await _apply(db, WATCHED)
    assert ("create", "service") in {(c.action.value, c.kind) for c in created.changes}
    admin = await factory.actor(Role.ADMIN)
    service = await _service(db)
    read = (await client.get(f"/api/v1/services/{service.id}", headers=admin.headers)).json()
    assert read["deploy_watch_minutes"] == 45
    assert read["deployer_notice"] == "page"
    assert read["deploy_watch_environments"] == ["production", "eu-production"]

    # What the API reads back, written as a file, is the same configuration: nothing changes.
    echoed = BASE + (
        f"    deploy_watch_minutes: {read['deploy_watch_minutes']}\n"
        f"    deployer_notice: {read['deployer_notice']}\n"
        f"    deploy_watch_environments: {read['deploy_watch_environments']}\n"
    ).replace("'", "")
    again = await _apply(db, echoed)
    assert not again.changed, [c.describe() for c in again.changes]

    narrower = WATCHED.replace("[production, eu-production]", "[production]")
    # An unquoted `off` is YAML's false: it still means the notice is off.
    report = await _apply(db, narrower.replace("page", "off"))
    updates = [(c.key, c.fields) for c in report.changes if c.action is Action.UPDATE]
    assert updates == [("payments-api", ("deployer_notice", "deploy_watch_environments"))]
    assert (await _service(db)).deployer_notice == "off"

    # Keys left out of the file mean the defaults: the file is the whole truth.
    defaults = await _apply(db, BASE)
    updated = [c.fields for c in defaults.changes if c.action is Action.UPDATE]
    assert updated == [("deploy_watch_minutes", "deployer_notice", "deploy_watch_environments")]
    service = await _service(db)
    assert service.deploy_watch_minutes == 30
    assert service.deployer_notice == "notify"
    assert service.deploy_watch_environments == []


async def test_applying_leaves_deploys_alone(db: Database, clock: ManualClock) -> None:
    await _apply(db, WATCHED)
    service = await _service(db)
    async with db.transaction() as session:
        session.add(
            Deployment(
                service_id=service.id,
                version="v1",
                status=DeployStatus.SUCCEEDED,
                source=DeploySource.API,
                started_at=clock.now() - timedelta(minutes=5),
                finished_at=clock.now(),
            )
        )
    edited = WATCHED.replace("45", "10")
    report = await _apply(db, edited, prune=True)
    assert {c.kind for c in report.changes} <= {"team", "service"}
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Deployment)) == 1


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ("    deploy_watch_minutes: 1441\n", "deploy_watch_minutes"),
        ("    deployer_notice: loudly\n", "deployer_notice"),
        (
            "    deploy_watch_environments: [" + ", ".join(f"env{n}" for n in range(21)) + "]\n",
            "environments",
        ),
        ("    deploy_watch_environments: ['" + "x" * 101 + "']\n", "environments"),
        ("    deploy_watch_environment: [production]\n", "deploy_watch_environment"),
    ],
)
async def test_bad_watch_settings_name_the_service(db: Database, line: str, where: str) -> None:
    with pytest.raises(ConfigFileError, match=where):
        await _apply(db, BASE + line)
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Service)) == 0
