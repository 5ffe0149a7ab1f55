"""``baton apply``: idempotent, reports what left the file, deletes only with prune."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.db import Database
from app.core.declarative import Action
from app.declarative.apply import ConfigFileError, apply_config, load_config_file, parse_config
from app.people.models import ContactMethod, NotificationRule, Team, TeamMembership, User

CONFIG = """
users:
  - email: alice@example.com
    name: Alice
    time_zone: Europe/Berlin
    contact_methods:
      - {type: sms, address: "+15555550123", label: mobile, verified: true}
      - {type: email, address: alice@example.com}
    notification_rules:
      - {contact: mobile, after_minutes: 2}
      - {contact: email, after_minutes: 0}
  - email: bob@example.com
    name: Bob
    role: viewer
teams:
  - name: sre
    kind: ops
    members:
      - {email: alice@example.com, role: manager}
      - bob@example.com
"""


async def _apply(db: Database, text: str, *, prune: bool = False):
    async with db.transaction() as session:
        return await apply_config(session, parse_config(text), prune=prune)


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_applying_twice_changes_nothing(db: Database) -> None:
    first = await _apply(db, CONFIG)
    assert first.count(Action.CREATE) == 9  # 2 users, 2 contacts, 2 rules, 1 team, 2 members
    second = await _apply(db, CONFIG)
    assert not second.changed
    assert {c.action for c in second.changes} == {Action.UNCHANGED}
    async with db.transaction() as session:
        alice = await session.scalar(select(User).where(User.email == "alice@example.com"))
        sms = await session.scalar(select(ContactMethod).where(ContactMethod.type == "sms"))
    assert alice.time_zone == "Europe/Berlin"
    assert sms.is_pageable, "config may vouch for a number"


async def test_updates_are_reported_field_by_field(db: Database, clock) -> None:
    await _apply(db, CONFIG)
    clock.advance(minutes=5)
    report = await _apply(db, CONFIG.replace("time_zone: Europe/Berlin", "time_zone: UTC"))
    updates = [c for c in report.changes if c.action is Action.UPDATE]
    assert [(c.kind, c.key, c.fields) for c in updates] == [
        ("user", "alice@example.com", ("time_zone",))
    ]


async def test_removed_entries_are_stale_until_pruned(db: Database) -> None:
    await _apply(db, CONFIG)
    without_bob = CONFIG.replace(
        "  - email: bob@example.com\n    name: Bob\n    role: viewer\n", ""
    ).replace("      - bob@example.com\n", "")
    report = await _apply(db, without_bob)
    stale = {(c.kind, c.key) for c in report.changes if c.action is Action.STALE}
    assert ("user", "bob@example.com") in stale
    assert any(kind == "membership" for kind, _ in stale)
    assert await _count(db, User) == 2, "nothing deleted without prune"

    pruned = await _apply(db, without_bob, prune=True)
    assert ("user", "bob@example.com") in {
        (c.kind, c.key) for c in pruned.changes if c.action is Action.DELETE
    }
    assert await _count(db, User) == 1
    assert await _count(db, TeamMembership) == 1


async def test_things_made_through_the_api_are_never_pruned(db: Database, factory) -> None:
    await _apply(db, CONFIG)
    manual = await factory.user(email="manual@example.com")
    async with db.transaction() as session:
        session.add(
            ContactMethod(
                user_id=manual.id, type="email", address="m@example.com", verified_at=db.clock.now()
            )
        )
    report = await _apply(db, CONFIG, prune=True)
    assert not any(c.action is Action.DELETE for c in report.changes)
    assert await _count(db, User) == 3


async def test_removing_a_rule_from_the_file_prunes_only_that_rule(db: Database) -> None:
    await _apply(db, CONFIG)
    fewer = CONFIG.replace("      - {contact: mobile, after_minutes: 2}\n", "")
    await _apply(db, fewer, prune=True)
    assert await _count(db, NotificationRule) == 1
    assert await _count(db, ContactMethod) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("users: [{email: x, name: X}]", "users.0.email"),
        ("users: [{email: a@example.com, name: A, time_zone: Nowhere}]", "time_zone"),
        ("teams: [{name: sre, kind: qa}]", "teams.0.kind"),
        ("colour: blue", "colour"),
        (
            "users: [{email: a@example.com, name: A, notification_rules: "
            "[{contact: sms, after_minutes: 0}]}]",
            "matches no contact method",
        ),
        (
            "users:\n  - {email: a@example.com, name: A}\n  - {email: A@example.com, name: B}",
            "listed twice",
        ),
        ("- just\n- a list", "top level must be a mapping"),
        ("users: [unclosed", "not valid YAML"),
    ],
)
def test_invalid_files_say_where(text: str, message: str) -> None:
    with pytest.raises(ConfigFileError, match=re.escape(message)):
        parse_config(text)


async def test_unknown_team_member_writes_nothing(db: Database) -> None:
    bad = "teams: [{name: sre, kind: ops, members: [ghost@example.com]}]"
    with pytest.raises(ConfigFileError, match=re.escape("ghost@example.com")):
        await _apply(db, bad)
    assert await _count(db, Team) == 0


def test_the_demo_config_is_valid() -> None:
    config = load_config_file(Path(__file__).parents[2] / "config" / "demo.yaml")
    assert {t.kind for t in config.teams} == {"dev", "ops"}
    assert any(u.role == "viewer" for u in config.users)
