"""``baton apply`` for escalation policies and services, and pruning in dependency order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.catalog.models import Service
from app.core.db import Database
from app.core.declarative import Action
from app.declarative.apply import ConfigFileError, apply_config, parse_config
from app.escalation.models import EscalationPolicy
from app.escalation.service import load_snapshot
from app.people.models import User

DEMO = (Path(__file__).parents[2] / "config" / "demo.yaml").read_text()


async def _apply(db: Database, text: str, *, prune: bool = False):
    async with db.transaction() as session:
        return await apply_config(session, parse_config(text), prune=prune)


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_the_demo_applies_once_and_then_changes_nothing(db: Database) -> None:
    first = await _apply(db, DEMO)
    kinds = {c.kind for c in first.changes if c.action is Action.CREATE}
    assert {"escalation_policy", "service", "schedule", "user", "team"} <= kinds
    again = await _apply(db, DEMO)
    assert not again.changed, [
        c.describe() for c in again.changes if c.action is not Action.UNCHANGED
    ]
    async with db.transaction() as session:
        service = await session.scalar(select(Service).where(Service.name == "payments-api"))
        snapshot = await load_snapshot(session, service.escalation_policy_id)
    assert snapshot is not None and snapshot.repeat == 1
    assert [len(step.targets) for step in snapshot.steps] == [1, 1, 1]
    assert [step.delay_minutes for step in snapshot.steps] == [5, 10, 10]
    assert snapshot.steps[0].targets[0].kind == "schedule"


async def test_a_changed_ladder_is_an_update_of_its_steps(db: Database) -> None:
    await _apply(db, DEMO)
    changed = DEMO.replace("      - after_minutes: 5\n", "      - after_minutes: 3\n", 1)
    report = await _apply(db, changed)
    updates = [(c.kind, c.key, c.fields) for c in report.changes if c.action is Action.UPDATE]
    assert updates == [("escalation_policy", "payments-api", ("steps",))]


async def test_prune_removes_services_policies_and_people_in_order(db: Database) -> None:
    await _apply(db, DEMO)
    # Drop the payments service, its policy, and Bob (whom that policy named) from the file.
    text = DEMO
    text = re.sub(
        r"  - name: payments-api\n    team: payments\n    repeat: 1\n(    .*\n|\n)+?"
        r"(?=  - name: sre-platform)",
        "",
        text,
    )
    text = re.sub(
        r"  - name: payments-api\n    team: payments\n    escalation_policy.*\n"
        r"(    .*\n)+",
        "",
        text,
    )
    assert "escalation_policy: payments-api" not in text
    stale = await _apply(db, text)
    stale_keys = {(c.kind, c.key) for c in stale.changes if c.action is Action.STALE}
    assert {("service", "payments-api"), ("escalation_policy", "payments-api")} <= stale_keys
    assert await _count(db, Service) == 2, "nothing deleted without prune"

    pruned = await _apply(db, text, prune=True)
    deleted = {(c.kind, c.key) for c in pruned.changes if c.action is Action.DELETE}
    assert {("service", "payments-api"), ("escalation_policy", "payments-api")} <= deleted
    assert await _count(db, Service) == 1
    assert await _count(db, EscalationPolicy) == 1


async def test_a_person_still_used_outside_the_file_is_not_pruned(db: Database, factory) -> None:
    await _apply(db, DEMO)
    async with db.transaction() as session:
        frank = await session.scalar(select(User).where(User.email == "frank@example.com"))
    team = await factory.team(name="manual")
    async with db.transaction() as session:
        session.add(EscalationPolicy(name="manual", team_id=team.id))
    from app.escalation.models import EscalationStep, EscalationTarget

    async with db.transaction() as session:
        policy = await session.scalar(
            select(EscalationPolicy).where(EscalationPolicy.name == "manual")
        )
        step = EscalationStep(policy_id=policy.id, position=0, delay_minutes=5)
        session.add(step)
        await session.flush()
        session.add(EscalationTarget(step_id=step.id, kind="user", user_id=frank.id))
    without_frank = re.sub(r"  - email: frank@example.com\n(    .*\n|      .*\n)+", "", DEMO)
    with pytest.raises(ConfigFileError, match="still used"):
        await _apply(db, without_frank, prune=True)
    async with db.transaction() as session:
        assert await session.get(User, frank.id) is not None


def test_bad_references_are_refused() -> None:
    with pytest.raises(ConfigFileError, match="exactly one of"):
        parse_config(
            "escalation_policies: [{name: p, team: t, steps: [{after_minutes: 5, "
            "targets: [{user: a@example.com, schedule: s}]}]}]"
        )
    with pytest.raises(ConfigFileError, match="services listed twice"):
        parse_config("services: [{name: a, team: t}, {name: A, team: t}]")


async def test_unknown_names_write_nothing(db: Database) -> None:
    with pytest.raises(ConfigFileError, match="schedule nowhere is unknown"):
        await _apply(
            db, DEMO.replace("- schedule: sre-follow-the-sun\n", "- schedule: nowhere\n", 1)
        )
    assert await _count(db, User) == 0
