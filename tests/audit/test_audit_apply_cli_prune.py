"""``baton apply`` is on record as "declarative apply by X"; ``baton audit`` prints the log; the
engine prunes records older than the retention; the engine's own work is not audited."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.audit import service as audit
from app.audit.models import AuditRecord
from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.core.settings import Environment, Settings
from app.declarative.apply import ConfigFileError, apply_config, load_config_file, parse_config
from app.main import _build_engine
from app.people.models import Team, User
from tests.audit.helpers import audit_rows
from tests.factories import Factory
from tests.test_cli import _baton

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"


async def test_an_apply_is_recorded_as_declarative_apply_by_whoever_ran_it(db: Database) -> None:
    config = load_config_file(DEMO)
    async with db.transaction() as session:
        await apply_config(session, config, by="alice", source="config/demo.yaml")
    rows = await audit_rows(db)
    kinds = {r.entity_type for r in rows}
    assert {"user", "team", "contact_method", "schedule", "layer", "escalation_policy"} <= kinds
    assert {"service", "notification_rule", "membership"} <= kinds
    assert {(r.actor_kind, r.actor_label, r.actor_user_id, r.channel) for r in rows} == {
        ("apply", "declarative apply by alice", None, "cli")
    }
    applied = rows[-1]
    assert (applied.entity_type, applied.action, applied.entity_id) == (
        "declarative_apply",
        "applied",
        None,
    )
    assert applied.after is not None and applied.after["source"] == "config/demo.yaml"
    assert applied.after["summary"].startswith(str(len(applied.after["changes"])))

    # Applying the same file again changes nothing, and says so once.
    async with db.transaction() as session:
        await apply_config(session, config, by="bob")
    again = [r for r in await audit_rows(db) if r.id > applied.id]
    assert [(r.entity_type, r.actor_label) for r in again] == [
        ("declarative_apply", "declarative apply by bob")
    ]
    assert again[0].after == {
        "source": "<config>",
        "prune": False,
        "summary": f"{applied.after['summary'].split()[0]} unchanged",
        "changes": [],
    }


async def test_an_applied_ladder_change_shows_before_and_after(db: Database) -> None:
    text = """
users: [{email: a@example.com, name: A}]
teams: [{name: sre, kind: ops, members: [a@example.com]}]
escalation_policies:
  - name: sre
    team: sre
    steps:
      - {after_minutes: 5, targets: [{user: a@example.com}]}
"""
    async with db.transaction() as session:
        await apply_config(session, parse_config(text), by="ci")
    async with db.transaction() as session:
        await apply_config(
            session, parse_config(text.replace("after_minutes: 5", "after_minutes: 9")), by="ci"
        )
    policy_rows = await audit_rows(db, "escalation_policy")
    assert [r.action for r in policy_rows] == ["created", "updated"]
    updated = policy_rows[-1]
    assert updated.before is not None and updated.after is not None
    assert [s["delay_minutes"] for s in updated.before["steps"]] == [5]
    assert [s["delay_minutes"] for s in updated.after["steps"]] == [9]


async def test_a_failed_apply_leaves_no_record(db: Database) -> None:
    broken = "teams: [{name: sre, kind: ops, members: [nobody@example.com]}]"
    with pytest.raises(ConfigFileError, match="nobody"):
        async with db.transaction() as session:
            await apply_config(session, parse_config(broken), by="ci")
    assert await audit_rows(db) == []


async def test_a_rolled_back_savepoint_takes_its_changes_out_of_the_log(db: Database) -> None:
    async with db.transaction() as session:
        audit.act_as(session, audit.Actor.cli("test"))
        session.add(Team(name="kept", kind="ops"))
        await session.flush()
        try:
            async with session.begin_nested():
                session.add(Team(name="undone", kind="ops"))
                await session.flush()
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        async with session.begin_nested():
            session.add(User(name="Released", email="released@example.com", time_zone="UTC"))
    rows = await audit_rows(db)
    assert [(r.entity_type, r.after["name"]) for r in rows if r.after] == [
        ("team", "kept"),
        ("user", "Released"),
    ]


async def test_work_without_an_actor_is_not_audited(db: Database, factory: Factory) -> None:
    # The engine and the test factories write without an actor: not configuration changes.
    await factory.actor(Role.ADMIN)
    async with db.transaction() as session:
        session.add(Team(name="by-the-engine", kind="ops"))
    assert await audit_rows(db) == []


async def test_the_prune_job_deletes_records_older_than_the_retention(
    client: httpx.AsyncClient, factory: Factory, db: Database, clock: ManualClock
) -> None:
    admin = await factory.actor(Role.ADMIN)
    for index in range(5):
        response = await client.post(
            "/api/v1/teams", headers=admin.headers, json={"name": f"old-{index}", "kind": "ops"}
        )
        assert response.status_code == 201
    clock.advance(days=300)
    await client.post("/api/v1/teams", headers=admin.headers, json={"name": "new", "kind": "ops"})
    retention = timedelta(days=Settings(env=Environment.TEST).audit_retention_days)
    assert retention == timedelta(days=400)

    clock.advance(days=99)
    assert await audit.prune(db, retention, batch=2) == 0
    clock.advance(days=2)  # the first five are now 401 days old
    assert await audit.prune(db, retention, batch=2) == 5
    assert await audit.prune(db, retention, batch=2) == 0, "idempotent: any replica may run it"
    remaining = await audit_rows(db)
    assert [r.after["name"] for r in remaining if r.after] == ["new"]


async def test_the_engine_runs_the_prune_job_with_the_configured_retention(
    app: FastAPI, settings: Settings, db: Database, clock: ManualClock
) -> None:
    async with db.transaction() as session:
        audit.act_as(session, audit.Actor.system("test"))
        session.add(Team(name="ancient", kind="ops"))
    clock.advance(days=31)
    configured = settings.model_copy(update={"engine_enabled": True, "audit_retention_days": 30})
    engine = _build_engine(configured, db, app.state.dispatcher, app.state.notifier)
    assert engine is not None
    interval, job = engine._jobs["audit-prune"]
    assert interval == 3600
    await job()
    async with db.transaction() as session:
        assert (await session.scalars(select(AuditRecord))).all() == []


def test_retention_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_AUDIT_RETENTION_DAYS", "30")
    assert Settings().audit_retention_days == 30
    example = (Path(__file__).resolve().parents[2] / "config" / "baton.example.env").read_text()
    assert "BATON_AUDIT_RETENTION_DAYS=400" in example


def test_baton_audit_prints_the_log(tmp_path: Path) -> None:
    assert _baton(tmp_path, "migrate").returncode == 0
    applied = _baton(tmp_path, "apply", "--by", "dana", "config/demo.yaml")
    assert applied.returncode == 0, applied.stderr
    dry = _baton(tmp_path, "apply", "--dry-run", "--by", "dana", "config/demo.yaml")
    assert dry.returncode == 0, dry.stderr
    applies = _baton(tmp_path, "audit", "--entity", "declarative_apply")
    assert len(applies.stdout.splitlines()) == 1, "a dry run is not on record"
    assert _baton(tmp_path, "token", "create", "--email", "alice@example.com").returncode == 0

    latest = _baton(tmp_path, "audit", "--limit", "2")
    assert latest.returncode == 0, latest.stderr
    token_line, apply_line = latest.stdout.splitlines()
    assert "cli by " in token_line and "created token" in token_line
    assert 'token_hash="[redacted]"' in token_line
    assert "declarative apply by dana  applied declarative_apply" in apply_line

    users = _baton(tmp_path, "audit", "--entity", "user", "--kind", "apply", "--json")
    records = [json.loads(line) for line in users.stdout.splitlines()]
    assert records and {r["entity_type"] for r in records} == {"user"}
    assert {r["actor_label"] for r in records} == {"declarative apply by dana"}
    alice = next(r for r in records if r["after"]["email"] == "alice@example.com")
    assert alice["action"] == "created" and alice["before"] is None

    by_alice = _baton(tmp_path, "audit", "--user", "alice@example.com")
    assert by_alice.returncode == 0 and by_alice.stdout == ""
    assert "no audit records match" in by_alice.stderr
    bad = _baton(tmp_path, "audit", "--entity", "incident")
    assert bad.returncode != 0 and "--entity" in bad.stderr
