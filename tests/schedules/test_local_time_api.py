"""Hand-off rules and per-layer time zones through the API, ``baton apply``, reminders and the
migration that introduced them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import ManualClock
from app.core.db import Database, make_engine
from app.core.declarative import Action
from app.core.migrations import upgrade
from app.declarative.apply import apply_config, parse_config
from app.notify.base import MessageKind
from app.notify.console import ConsoleProvider
from app.people.models import ContactType
from app.schedules import service
from app.schedules.models import LayerVersion, Schedule
from app.schedules.oncall import HandoffRule
from tests import dbutil
from tests.factories import Factory
from tests.schedules.helpers import create_schedule, crew, on_call, utc
from tests.schedules.test_reminders import remind

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _layer(participants: list[int], **extra: Any) -> dict[str, Any]:
    return {
        "name": extra.pop("name", "rota"),
        "participants": participants,
        "start": "2026-01-05",
        **extra,
    }


@pytest.mark.parametrize(
    ("shift", "rule"),
    [
        ({"shift_unit": "hours", "shift_length": 12}, "wall_clock"),
        ({"shift_unit": "hours", "shift_length": 8}, "wall_clock"),
        ({"shift_unit": "hours", "shift_length": 48}, "wall_clock"),
        ({"shift_unit": "hours", "shift_length": 5}, "elapsed"),
        ({"shift_unit": "hours", "shift_length": 36}, "elapsed"),
        ({"shift_unit": "days", "shift_length": 1}, "wall_clock"),
        ({"shift_unit": "weeks", "shift_length": 1}, "wall_clock"),
        ({"shift_unit": "hours", "shift_length": 12, "handoff_rule": "elapsed"}, "elapsed"),
        ({"shift_unit": "hours", "shift_length": 5, "handoff_rule": "wall_clock"}, "wall_clock"),
    ],
)
async def test_the_hand_off_rule_defaults_by_shift_length(
    client: httpx.AsyncClient, factory: Factory, shift: dict[str, Any], rule: str
) -> None:
    c = await crew(factory)
    schedule = await create_schedule(
        client, c.owner, c.team_id, layers=[_layer([c.owner.id], **shift)]
    )
    (layer,) = schedule["layers"]
    assert layer["handoff_rule"] == rule
    assert layer["time_zone"] is None


async def test_a_layer_zone_places_its_start_and_hand_offs(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    c = await crew(factory)
    other = await factory.user()
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        time_zone="America/New_York",
        layers=[
            _layer(
                [c.owner.id, other.id],
                shift_unit="days",
                handoff_time="09:00",
                time_zone="Australia/Sydney",
            )
        ],
    )
    (layer,) = schedule["layers"]
    assert layer["time_zone"] == "Australia/Sydney"
    assert layer["handoff_time"] == "09:00"
    # 5 January 09:00 in Sydney (AEDT, +11) is 4 January 22:00 UTC.
    assert datetime.fromisoformat(layer["anchor"]) == utc(2026, 1, 4, 22)
    # Sydney's 09:00 is 23:00 UTC once its summer time has ended (5 April).
    sid = schedule["id"]
    assert await on_call(client, c.owner, sid, utc(2026, 4, 6, 22, 59)) != await on_call(
        client, c.owner, sid, utc(2026, 4, 6, 23)
    )
    assert await on_call(client, c.owner, sid, utc(2026, 4, 6, 22)) == await on_call(
        client, c.owner, sid, utc(2026, 4, 6, 22, 59)
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_zone", "Mars/Olympus_Mons"),
        ("time_zone", ""),
        ("handoff_rule", "sometimes"),
        ("handoff_rule", None),
    ],
)
async def test_bad_rules_and_zones_are_refused(
    client: httpx.AsyncClient, factory: Factory, field: str, value: Any
) -> None:
    c = await crew(factory)
    schedule = await create_schedule(client, c.owner, c.team_id)
    body = _layer([c.owner.id], shift_unit="hours", shift_length=12)
    if value is not None:
        body[field] = value
        created = await client.post(
            f"/api/v1/schedules/{schedule['id']}/layers", headers=c.owner.headers, json=body
        )
        assert created.status_code == 422, created.text
        error = created.json()
        assert error["code"] and error["detail"]
        assert any(field in item["loc"] for item in error["errors"])
    created = await client.post(
        f"/api/v1/schedules/{schedule['id']}/layers",
        headers=c.owner.headers,
        json=_layer([c.owner.id], shift_unit="hours", shift_length=12),
    )
    layer_id = created.json()["id"]
    patched = await client.patch(
        f"/api/v1/schedules/{schedule['id']}/layers/{layer_id}",
        headers=c.owner.headers,
        json={field: value},
    )
    assert patched.status_code == 422, patched.text
    history = await client.get(
        f"/api/v1/schedules/{schedule['id']}/layers/{layer_id}/versions", headers=c.owner.headers
    )
    assert len(history.json()) == 1, "nothing written"


async def test_changing_the_rule_or_the_zone_keeps_the_past(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> None:
    c = await crew(factory)
    other = await factory.user()
    clock.set(utc(2026, 1, 1))
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        time_zone="Europe/Berlin",
        layers=[
            _layer(
                [c.owner.id, other.id],
                shift_unit="hours",
                shift_length=12,
                handoff_time="08:00",
                handoff_rule="elapsed",
            )
        ],
    )
    sid, layer_id = schedule["id"], schedule["layers"][0]["id"]
    url = f"/api/v1/schedules/{sid}/layers/{layer_id}"
    # Elapsed: after Berlin's spring change the 08:00 CET hand-off (07:00 UTC) is at 09:00 CEST.
    april_morning = await on_call(client, c.owner, sid, utc(2026, 4, 1, 6, 30))
    assert april_morning == [other.id], "still the night shift at 08:30 CEST"

    clock.set(utc(2026, 3, 31, 12))
    ruled = await client.patch(url, headers=c.owner.headers, json={"handoff_rule": "wall_clock"})
    assert ruled.status_code == 200, ruled.text
    assert ruled.json()["handoff_rule"] == "wall_clock"
    assert ruled.json()["handoff_time"] == "08:00"
    assert await on_call(client, c.owner, sid, utc(2026, 4, 1, 6, 30)) == [c.owner.id]
    assert await on_call(client, c.owner, sid, utc(2026, 3, 30, 6, 30)) == [other.id], "the past"

    clock.set(utc(2026, 4, 2, 12))
    moved = await client.patch(url, headers=c.owner.headers, json={"time_zone": "Asia/Tokyo"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["time_zone"], moved.json()["handoff_time"]) == ("Asia/Tokyo", "08:00")
    # 08:00 and 20:00 in Tokyo are 23:00 and 11:00 UTC.
    assert await on_call(client, c.owner, sid, utc(2026, 4, 3, 10, 59)) != await on_call(
        client, c.owner, sid, utc(2026, 4, 3, 11)
    )
    assert await on_call(client, c.owner, sid, utc(2026, 4, 1, 6, 30)) == [c.owner.id], "the past"

    clock.set(utc(2026, 4, 3, 12))
    back = await client.patch(url, headers=c.owner.headers, json={"time_zone": None})
    assert back.status_code == 200, back.text
    assert (back.json()["time_zone"], back.json()["handoff_time"]) == (None, "08:00")
    history = await client.get(f"{url}/versions", headers=c.owner.headers)
    assert [(v["handoff_rule"], v["time_zone"]) for v in history.json()] == [
        ("elapsed", None),
        ("wall_clock", None),
        ("wall_clock", "Asia/Tokyo"),
        ("wall_clock", None),
    ]


async def test_reminders_follow_the_wall_clock_across_the_change(
    client: httpx.AsyncClient,
    factory: Factory,
    clock: ManualClock,
    db: Database,
    console: ConsoleProvider,
    app: FastAPI,
) -> None:
    c = await crew(factory)
    ada = await factory.user(name="Ada", time_zone="Europe/Berlin")
    ben = await factory.user(name="Ben", time_zone="Europe/Berlin")
    for user in (ada, ben):
        await factory.contact_method(user.id, ContactType.EMAIL, f"u{user.id}@example.com")
    clock.set(utc(2026, 3, 20))
    await create_schedule(
        client,
        c.owner,
        c.team_id,
        name="icu",
        time_zone="Europe/Berlin",
        layers=[
            _layer([ada.id, ben.id], shift_unit="hours", shift_length=12, handoff_time="08:00")
        ],
    )
    clock.set(utc(2026, 3, 29, 5, 5))  # Ada's day starts at 08:00 CEST = 06:00 UTC
    assert await remind(db, app) == 1
    (record,) = [r for r in console.sent if r.message.kind is MessageKind.REMINDER]
    assert record.message.user_id == ada.id
    assert "starts Sun 29 Mar 08:00 (Europe/Berlin)" in record.message.text
    clock.set(utc(2026, 3, 29, 6, 2))  # Ben's 11-hour night is over
    assert await remind(db, app) == 1
    assert console.sent[-1].message.user_id == ben.id
    assert "ended Sun 29 Mar 08:00 (Europe/Berlin)" in console.sent[-1].message.text


# ---------------------------------------------------------------------------------------------
# baton apply
# ---------------------------------------------------------------------------------------------

CONFIG = """
users:
  - {email: ada@example.com, name: Ada, time_zone: Europe/Berlin}
  - {email: dan@example.com, name: Dan, time_zone: Australia/Sydney}
teams:
  - {name: sre, kind: ops, members: [ada@example.com, dan@example.com]}
schedules:
  - name: around-the-world
    team: sre
    time_zone: UTC
    layers:
      - name: sydney
        time_zone: Australia/Sydney
        participants: [dan@example.com]
        shift_unit: days
        start: 2026-01-05T09:00      # 09:00 on Sydney's clock
        restrictions:
          - {weekdays: [mon, tue, wed, thu, fri, sat, sun], start: "09:00", end: "17:00"}
      - name: day-night
        participants: [ada@example.com, dan@example.com]
        shift_unit: hours
        shift_length: 12
        start: 2026-01-05
        handoff_time: "08:00"
      - name: drifting
        participants: [ada@example.com, dan@example.com]
        shift_unit: hours
        shift_length: 12
        handoff_rule: elapsed
        start: 2026-01-05
        priority: 0
"""


async def _schedule(session: AsyncSession) -> Schedule:
    schedule = await service.get_schedule_by_name(session, "around-the-world")
    assert schedule is not None
    return schedule


async def _versions_in(session: AsyncSession) -> dict[str, LayerVersion]:
    views = await service.current_layers(session, await _schedule(session))
    return {view.layer.name: view.version for view in views}


async def _versions(db: Database) -> dict[str, LayerVersion]:
    async with db.transaction() as session:
        return await _versions_in(session)


async def test_apply_stores_rules_and_zones_and_is_idempotent(db: Database) -> None:
    async with db.transaction() as session:
        await apply_config(session, parse_config(CONFIG), prune=False)
    versions = await _versions(db)
    assert (versions["sydney"].time_zone, versions["sydney"].handoff_rule) == (
        "Australia/Sydney",
        HandoffRule.WALL_CLOCK,
    )
    assert versions["sydney"].anchor == utc(2026, 1, 4, 22)  # 09:00 AEDT
    assert versions["day-night"].handoff_rule is HandoffRule.WALL_CLOCK
    assert versions["drifting"].handoff_rule is HandoffRule.ELAPSED
    assert versions["drifting"].time_zone is None

    async with db.transaction() as session:
        again = await apply_config(session, parse_config(CONFIG), prune=False)
    assert {c.action for c in again.changes if c.kind == "layer"} == {Action.UNCHANGED}

    moved = CONFIG.replace(
        "time_zone: Australia/Sydney\n        participants",
        "time_zone: Asia/Tokyo\n        participants",
    )
    async with db.transaction() as session:
        changed = await apply_config(session, parse_config(moved), prune=False)
    (update,) = [c for c in changed.changes if c.kind == "layer" and c.action is Action.UPDATE]
    assert "time_zone" in update.fields
    assert (await _versions(db))["sydney"].anchor == utc(2026, 1, 5)  # 09:00 JST


def test_apply_refuses_an_unknown_layer_zone() -> None:
    from app.declarative.apply import ConfigFileError

    with pytest.raises(ConfigFileError, match="time_zone"):
        parse_config(
            CONFIG.replace(
                "Australia/Sydney\n        participants", "Moon/Base\n        participants"
            )
        )


# ---------------------------------------------------------------------------------------------
# The migration keeps every existing answer
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    base = dbutil.postgres_base_url()
    if base:
        url = dbutil.create_postgres_database(base, f"rule_{tmp_path.name[-12:]}".lower())
        yield url
        dbutil.drop_postgres_database(url)
    else:
        yield dbutil.sqlite_url(tmp_path / "empty.db")


async def test_existing_layers_keep_their_rule_through_the_migration(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    try:
        await upgrade(engine, "0008")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO teams (id, name, kind, description, config_managed, created_at, "
                    "updated_at) VALUES (1, 'sre', 'ops', '', false, '2026-01-01', '2026-01-01')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO schedules (id, name, team_id, time_zone, description, revision, "
                    "config_managed, created_at, updated_at) VALUES (1, 's', 1, 'Europe/Berlin', "
                    "'', 1, false, '2026-01-01', '2026-01-01')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO schedule_layers (id, schedule_id, name, config_managed, "
                    "created_at, updated_at) VALUES (1, 1, 'l', false, '2026-01-01', '2026-01-01')"
                )
            )
            for version_id, unit in ((1, "hours"), (2, "days")):
                await conn.execute(
                    text(
                        "INSERT INTO schedule_layer_versions (id, layer_id, priority, "
                        "shift_length, shift_unit, anchor, starts_at, restrictions, created_at) "
                        "VALUES (:id, 1, 1, 12, :unit, '2026-01-05 07:00:00+00:00', "
                        "'2026-01-05 07:00:00+00:00', '[]', '2026-01-01')"
                    ),
                    {"id": version_id, "unit": unit},
                )
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        LayerVersion.id, LayerVersion.handoff_rule, LayerVersion.time_zone
                    ).order_by(LayerVersion.id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [
        (1, HandoffRule.ELAPSED, None),
        (2, HandoffRule.WALL_CLOCK, None),
    ]


async def test_a_file_without_a_rule_moves_old_elapsed_hour_layers_to_the_wall_clock(
    db: Database, clock: ManualClock
) -> None:
    async with db.transaction() as session:
        await apply_config(session, parse_config(CONFIG), prune=False)
    async with db.transaction() as session:  # as migration 0009 left a layer made before rules
        version = (await _versions_in(session))["day-night"]
        version.handoff_rule = HandoffRule.ELAPSED
        schedule_id, layer_id = (await _schedule(session)).id, version.layer_id
    clock.set(utc(2026, 3, 10))
    async with db.transaction() as session:
        report = await apply_config(session, parse_config(CONFIG), prune=False)
    (update,) = [c for c in report.changes if c.kind == "layer" and c.action is Action.UPDATE]
    assert update.key.endswith("day-night")
    assert update.fields == ("handoff_rule",)
    async with db.transaction() as session:
        history = await service.layer_history(session, schedule_id, layer_id)
    assert [(v.handoff_rule, v.valid_until) for v in history] == [
        (HandoffRule.ELAPSED, utc(2026, 3, 10)),
        (HandoffRule.WALL_CLOCK, None),
    ]
