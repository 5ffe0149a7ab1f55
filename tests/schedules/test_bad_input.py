"""Bad input is a 4xx with a field-level message, and nothing is written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.core.db import Database
from app.schedules.models import LayerVersion, Schedule, ScheduleLayer, ScheduleOverride
from tests.factories import Factory
from tests.schedules.helpers import create_schedule, crew, weekly_layer

GOOD_LAYER = {"name": "l", "participants": ["ME"], "shift_unit": "days"}


def _layer(**changes: Any) -> dict[str, Any]:
    return {**GOOD_LAYER, **changes}


# (method, path template, body, status, location of the first error, words in the detail)
CASES: list[tuple[str, str, Any, int, list[str], str]] = [
    (
        "POST",
        "/api/v1/schedules",
        {"name": "x", "team_id": "TEAM", "time_zone": "Mars/Olympus_Mons"},
        422,
        ["body", "time_zone"],
        "unknown IANA time zone",
    ),
    (
        "POST",
        "/api/v1/schedules",
        {"name": "x", "team_id": "TEAM", "layers": [_layer(shift_length=0)]},
        422,
        ["body", "layers", "0", "shift_length"],
        "greater than or equal to 1",
    ),
    ("POST", "LAYERS", _layer(shift_length=0), 422, ["body", "shift_length"], "1"),
    (
        "POST",
        "LAYERS",
        _layer(shift_length=53, shift_unit="weeks"),
        422,
        ["body", "shift_length"],
        "at most a year",
    ),
    ("POST", "LAYERS", _layer(shift_length=367), 422, ["body", "shift_length"], "at most a year"),
    (
        "POST",
        "LAYERS",
        _layer(shift_length=8785, shift_unit="hours"),
        422,
        ["body", "shift_length"],
        "",
    ),
    ("POST", "LAYERS", _layer(shift_unit="fortnights"), 422, ["body", "shift_unit"], ""),
    (
        "POST",
        "LAYERS",
        _layer(restrictions=[{"weekdays": [], "start": "09:00", "end": "17:00"}]),
        422,
        ["body", "restrictions", "0", "weekdays"],
        "at least 1",
    ),
    (
        "POST",
        "LAYERS",
        _layer(restrictions=[{"weekdays": ["funday"], "start": "09:00", "end": "17:00"}]),
        422,
        ["body", "restrictions", "0", "weekdays", "0"],
        "unknown weekday",
    ),
    (
        "POST",
        "LAYERS",
        _layer(restrictions=[{"weekdays": [1], "start": "25:00", "end": "17:00"}]),
        422,
        ["body", "restrictions", "0", "start"],
        "",
    ),
    (
        "POST",
        "LAYERS",
        _layer(participants=["ME", 999_999]),
        422,
        ["body", "participants", "1"],
        "user 999999 does not exist",
    ),
    ("POST", "LAYERS", _layer(participants=[]), 422, ["body", "participants"], ""),
    ("POST", "LAYERS", _layer(shadows=[999_999]), 422, ["body", "shadows", "0"], "does not exist"),
    (
        "POST",
        "LAYERS",
        _layer(start="2026-01-05T09:00:00"),
        422,
        ["body", "start", "datetime"],
        "timezone",
    ),
    (
        "POST",
        "LAYERS",
        _layer(start="2026-01-05T09:00:00Z", end="2026-01-01T00:00:00Z"),
        422,
        ["body", "end"],
        "after",
    ),
    ("POST", "LAYERS", _layer(colour="blue"), 422, ["body", "colour"], "Extra inputs"),
    (
        "POST",
        "OVERRIDES",
        {"start": "2026-03-05T00:00:00Z", "end": "2026-03-04T00:00:00Z", "user_id": "ME"},
        422,
        ["body", "end"],
        "end must be after start",
    ),
    (
        "POST",
        "OVERRIDES",
        {"start": "2026-02-01T00:00:00Z", "end": "2026-02-02T00:00:00Z", "user_id": "ME"},
        422,
        ["body", "end"],
        "past",
    ),
    (
        "POST",
        "OVERRIDES",
        {"start": "2026-03-05T00:00:00Z", "end": "2026-03-06T00:00:00Z", "user_id": 999_999},
        422,
        ["body", "user_id"],
        "does not exist",
    ),
    (
        "POST",
        "OVERRIDES",
        {
            "start": "2026-03-05T00:00:00Z",
            "end": "2026-03-06T00:00:00Z",
            "user_id": "ME",
            "replaces_user_id": "ME",
        },
        422,
        ["body", "replaces_user_id"],
        "cannot replace themselves",
    ),
    (
        "GET",
        "SCHEDULE/final-schedule?start=2026-03-01T00:00:00Z&end=2027-04-01T00:00:00Z",
        None,
        422,
        ["query", "end"],
        "at most 366 days",
    ),
    (
        "GET",
        "SCHEDULE/gaps?start=2026-03-01T00:00:00Z&end=2026-02-01T00:00:00Z",
        None,
        422,
        ["query", "end"],
        "after start",
    ),
    ("PATCH", "LAYER", {"shift_unit": "hours"}, 422, ["body", "shift_length"], "with shift_unit"),
    ("PATCH", "LAYER", {"shift_length": 367}, 422, ["body", "shift_length"], "at most a year"),
    ("PATCH", "LAYER", {"participants": [999_999]}, 422, ["body", "participants", "0"], "exist"),
    ("GET", "SCHEDULE/oncall?at=2026-03-01T00:00:00", None, 422, ["query", "at"], "timezone"),
    ("GET", "SCHEDULE/oncall?at=yesterday", None, 422, ["query", "at"], ""),
]


async def _snapshot(db: Database) -> tuple[int, ...]:
    async with db.transaction() as session:
        counts = []
        for model in (Schedule, ScheduleLayer, LayerVersion, ScheduleOverride):
            counts.append(await session.scalar(select(func.count()).select_from(model)))
        counts.append(await session.scalar(select(func.sum(Schedule.revision))) or 0)
        return tuple(counts)


@pytest.mark.parametrize(("method", "path", "body", "status", "loc", "words"), CASES)
async def test_bad_input_writes_nothing(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Database,
    method: str,
    path: str,
    body: Any,
    status: int,
    loc: list[str],
    words: str,
) -> None:
    c = await crew(factory)
    schedule = await create_schedule(
        client, c.admin, c.team_id, layers=[weekly_layer([c.owner.id])]
    )
    base = f"/api/v1/schedules/{schedule['id']}"
    path = (
        path.replace("LAYERS", f"{base}/layers")
        .replace("LAYER", f"{base}/layers/{schedule['layers'][0]['id']}")
        .replace("OVERRIDES", f"{base}/overrides")
        .replace("SCHEDULE", base)
    )
    body = _substitute(body, {"ME": c.owner.id, "TEAM": c.team_id})
    before = await _snapshot(db)
    response = await client.request(method, path, headers=c.admin.headers, json=body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["code"] in ("validation_error", "invalid_input")
    assert answer["errors"][0]["loc"] == loc, answer
    assert words in answer["detail"] or words in answer["errors"][0]["msg"], answer
    assert await _snapshot(db) == before


def _substitute(value: Any, names: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


async def test_the_time_zone_cannot_move_past_shifts(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    c = await crew(factory)
    schedule = await create_schedule(
        client, c.owner, c.team_id, layers=[weekly_layer([c.owner.id])]
    )
    moved = await client.patch(
        f"/api/v1/schedules/{schedule['id']}",
        headers=c.owner.headers,
        json={"time_zone": "Asia/Tokyo"},
    )
    assert moved.status_code == 409
    assert "past" in moved.json()["detail"]
    fresh = await create_schedule(client, c.owner, c.team_id, name="future")
    ok = await client.patch(
        f"/api/v1/schedules/{fresh['id']}",
        headers=c.owner.headers,
        json={"time_zone": "Asia/Tokyo"},
    )
    assert ok.status_code == 200 and ok.json()["time_zone"] == "Asia/Tokyo"


async def test_unknown_ids_are_404(client: httpx.AsyncClient, factory: Factory) -> None:
    c = await crew(factory)
    for path in (
        "/api/v1/schedules/999",
        "/api/v1/schedules/999/oncall",
        "/api/v1/schedules/999/layers/1",
        "/api/v1/schedules/999/final-schedule",
        "/api/v1/users/999/next-shift",
        "/api/v1/cover-requests/999",
    ):
        response = await client.get(path, headers=c.viewer.headers)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
