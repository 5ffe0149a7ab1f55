"""``baton apply`` with schedules: idempotent, history-preserving, prune only when asked."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.clock import ManualClock
from app.core.db import Database
from app.core.declarative import Action, ApplyReport
from app.declarative.apply import ConfigFileError, apply_config, load_config_file, parse_config
from app.schedules import service
from app.schedules.models import LayerVersion, Schedule, ScheduleLayer, ScheduleOverride
from tests.schedules.helpers import utc

DEMO = Path(__file__).parents[2] / "config" / "demo.yaml"

CONFIG = """
users:
  - {email: ada@example.com, name: Ada, time_zone: Europe/Berlin}
  - {email: ben@example.com, name: Ben, time_zone: America/New_York}
  - {email: cy@example.com, name: Cy}
teams:
  - {name: payments, kind: dev, members: [ada@example.com, ben@example.com]}
schedules:
  - name: payments
    team: payments
    time_zone: America/New_York
    layers:
      - name: weekly
        participants: [ada@example.com, ben@example.com]
        shadows: [cy@example.com]
        start: 2026-01-05
        handoff_time: "09:00"
      - name: office
        participants: [cy@example.com]
        shift_unit: days
        start: 2026-01-05T09:00
        restrictions:
          - {weekdays: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
    overrides:
      - {start: 2026-03-04T00:00, end: 2026-03-05T00:00, user: cy@example.com,
         replaces: ada@example.com, reason: conference}
"""


async def _apply(db: Database, text: str, *, prune: bool = False) -> ApplyReport:
    async with db.transaction() as session:
        return await apply_config(session, parse_config(text), prune=prune)


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def _responders(db: Database, at: datetime) -> list[str]:
    async with db.transaction() as session:
        schedule = await service.get_schedule_by_name(session, "payments")
        assert schedule is not None
        answer = await service.oncall_at(session, schedule.id, at)
        people = await service.people(session, [a.user_id for a in answer.responders])
        return sorted(people[a.user_id].name for a in answer.responders)


async def test_applying_twice_changes_nothing(db: Database) -> None:
    first = await _apply(db, CONFIG)
    created = {(c.kind, c.key) for c in first.changes if c.action is Action.CREATE}
    assert {
        ("schedule", "payments"),
        ("layer", "payments / weekly"),
        ("layer", "payments / office"),
    } <= created
    assert any(kind == "override" for kind, _ in created)
    async with db.transaction() as session:
        revision = (await service.get_schedule_by_name(session, "payments")).revision
    second = await _apply(db, CONFIG)
    assert not second.changed, [c for c in second.changes if c.action is not Action.UNCHANGED]
    async with db.transaction() as session:
        assert (await service.get_schedule_by_name(session, "payments")).revision == revision
    # Monday 2 March 10:00 UTC is 05:00 in New York: still week 7 (Ben); the office is closed.
    assert await _responders(db, utc(2026, 3, 2, 10)) == ["Ben"]
    assert await _responders(db, utc(2026, 3, 2, 14)) == ["Cy"], "the office opens at 09:00 EST"
    assert await _responders(db, utc(2026, 3, 2, 22, 30)) == ["Ada"], "her week began at 09:00"
    # Tuesday 10 March 15:00 UTC is 11:00 EDT: the office layer (Cy) is on top.
    assert await _responders(db, utc(2026, 3, 10, 15)) == ["Cy"]
    # Wednesday 4 March 23:00 UTC is 18:00 EST: the office is closed; Cy covers Ada.
    assert await _responders(db, utc(2026, 3, 4, 23)) == ["Cy"]
    assert await _responders(db, utc(2026, 3, 5, 6)) == ["Ada"], "until midnight New York"


async def test_a_changed_rotation_applies_from_now(db: Database, clock: ManualClock) -> None:
    clock.set(utc(2026, 2, 1))
    await _apply(db, CONFIG)
    clock.set(utc(2026, 3, 2, 15))
    before = await _responders(db, utc(2026, 2, 24, 15))
    changed = CONFIG.replace(
        "participants: [ada@example.com, ben@example.com]",
        "participants: [ben@example.com, ada@example.com]",
    )
    report = await _apply(db, changed)
    updates = [(c.kind, c.key, c.fields) for c in report.changes if c.action is Action.UPDATE]
    assert updates == [("layer", "payments / weekly", ("participants",))]
    assert await _responders(db, utc(2026, 2, 24, 15)) == before, "the past is unchanged"
    assert await _count(db, LayerVersion) == 3
    assert not (await _apply(db, changed)).changed


async def test_stale_entries_are_removed_only_with_prune(db: Database, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 3))
    await _apply(db, CONFIG)
    clock.set(utc(2026, 3, 4, 12))  # the conference override is under way
    without = (
        CONFIG[: CONFIG.index("      - name: office")] + CONFIG[CONFIG.index("    overrides:") :]
    )
    without = without[: without.index("    overrides:")]
    report = await _apply(db, without)
    stale = {(c.kind, c.key.split(" (")[0]) for c in report.changes if c.action is Action.STALE}
    assert ("layer", "payments / office") in stale
    assert any(kind == "override" for kind, _ in stale)
    assert await _count(db, ScheduleOverride) == 1

    pruned = await _apply(db, without, prune=True)
    assert {c.kind for c in pruned.changes if c.action is Action.DELETE} == {"layer", "override"}
    async with db.transaction() as session:
        (override,) = (await session.scalars(select(ScheduleOverride))).all()
        assert override.ends_at == utc(2026, 3, 4, 12), "its past is kept"
        office = await session.scalar(select(ScheduleLayer).where(ScheduleLayer.name == "office"))
        assert office.deleted_at == utc(2026, 3, 4, 12)
    assert not (await _apply(db, without, prune=True)).changed

    gone = "\n".join(CONFIG.splitlines()[: CONFIG.splitlines().index("schedules:")])
    assert ("schedule", "payments") in {
        (c.kind, c.key) for c in (await _apply(db, gone)).changes if c.action is Action.STALE
    }
    await _apply(db, gone, prune=True)
    assert await _count(db, Schedule) == 0


async def test_the_demo_applies_twice_without_change(db: Database) -> None:
    config = load_config_file(DEMO)
    async with db.transaction() as session:
        first = await apply_config(session, config)
    names = {c.key for c in first.changes if c.kind == "schedule"}
    assert names == {"payments-primary", "sre-follow-the-sun"}
    async with db.transaction() as session:
        assert not (await apply_config(session, config)).changed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CONFIG.replace("shadows: [cy@example.com]", "shadows: [ghost@example.com]"), "ghost"),
        (CONFIG.replace("team: payments", "team: nobody"), "team nobody does not exist"),
        (
            CONFIG.replace("weekdays: [mon, tue, wed, thu, fri]", "weekdays: []"),
            "restrictions.0.weekdays",
        ),
        (CONFIG.replace("time_zone: America/New_York", "time_zone: Moon/Base"), "time_zone"),
        (CONFIG.replace('handoff_time: "09:00"', "shift_length: 0"), "shift_length"),
        (CONFIG.replace("- name: office", "- name: weekly"), "layers listed twice"),
        (
            CONFIG.replace(
                "reason: conference}",
                "reason: conference}\n      - {start: 2026-03-04T06:00, end: 2026-03-04T08:00,"
                " user: ben@example.com, replaces: ada@example.com}",
            ),
            "overlaps override",
        ),
        (
            CONFIG.replace("end: 2026-03-05T00:00, user: cy", "end: 2027-03-06T00:00, user: cy"),
            "lasts at most 366 days",
        ),
    ],
)
async def test_bad_files_write_nothing(db: Database, text: str, message: str) -> None:
    with pytest.raises(ConfigFileError, match=re.escape(message)):
        await _apply(db, text)
    assert await _count(db, Schedule) == 0
