"""Only keys of the tz database are time zones: names that depend on the host are refused.

``localtime`` is whatever zone the host runs in and ``posixrules`` whatever zone its tz files
were built with, so two replicas could disagree about the same schedule; ``Factory`` is the tz
database's placeholder for "not set". ``zoneinfo.available_timezones()`` lists ``localtime`` on
a host with a /usr/share/zoneinfo/localtime, which is why it is not the list used.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from app.core import validation
from app.core.auth import Role
from app.core.db import Database
from app.declarative.apply import ConfigFileError, apply_config, parse_config
from app.people.models import User
from app.schedules.models import Schedule
from tests.factories import Factory

HOST_DEPENDENT = ["localtime", "posixrules", "Factory", " localtime ", "posix/Europe/Berlin"]
NOT_ZONES = [*HOST_DEPENDENT, "right/UTC", "europe/berlin", "zone.tab", "Mars/Olympus", ""]
REAL = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC", "US/Eastern", "Etc/GMT+5"]


@pytest.mark.parametrize("name", NOT_ZONES)
def test_names_that_are_not_tz_database_keys_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        validation.time_zone(name)


@pytest.mark.parametrize("name", REAL)
def test_tz_database_keys_are_accepted(name: str) -> None:
    assert validation.time_zone(f" {name} ") == name


def test_the_list_does_not_come_from_the_host() -> None:
    zones = validation.known_zones()
    assert validation.NOT_ZONES.isdisjoint(zones)
    assert len(zones) > 500 and {"Europe/Kyiv", "America/Argentina/Buenos_Aires"} <= zones


@pytest.mark.parametrize("name", ["localtime", "posixrules", "Factory"])
async def test_the_api_refuses_host_dependent_zones_everywhere(
    client: httpx.AsyncClient, factory: Factory, name: str
) -> None:
    admin = await factory.actor(Role.ADMIN)
    team = await factory.team()

    def refused(response: httpx.Response, where: list[str]) -> None:
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "validation_error"
        assert where in [e["loc"] for e in response.json()["errors"]]

    body = {"name": "Zed", "email": "zed@example.com", "time_zone": name}
    refused(
        await client.post("/api/v1/users", headers=admin.headers, json=body), ["body", "time_zone"]
    )
    user = await factory.user()
    patch = {"time_zone": name}
    refused(
        await client.patch(f"/api/v1/users/{user.id}", headers=admin.headers, json=patch),
        ["body", "time_zone"],
    )
    schedule = {"name": "payments", "team_id": team.id, "time_zone": name}
    refused(
        await client.post("/api/v1/schedules", headers=admin.headers, json=schedule),
        ["body", "time_zone"],
    )
    created = await client.post(
        "/api/v1/schedules", headers=admin.headers, json={**schedule, "time_zone": "UTC"}
    )
    assert created.status_code == 201
    refused(
        await client.patch(
            f"/api/v1/schedules/{created.json()['id']}", headers=admin.headers, json=patch
        ),
        ["body", "time_zone"],
    )
    kept = await client.get(f"/api/v1/users/{user.id}", headers=admin.headers)
    assert kept.json()["time_zone"] == "UTC", "nothing was written"


@pytest.mark.parametrize(
    "config",
    [
        "users:\n  - {email: zed@example.com, name: Zed, time_zone: ZONE}\n",
        "teams:\n  - {name: sre, kind: ops}\n"
        "schedules:\n  - {name: sre, team: sre, time_zone: ZONE}\n",
    ],
    ids=["user", "schedule"],
)
@pytest.mark.parametrize("name", ["localtime", "Factory"])
async def test_declarative_config_refuses_host_dependent_zones(
    db: Database, config: str, name: str
) -> None:
    with pytest.raises(ConfigFileError, match="time_zone"):
        async with db.transaction() as session:
            await apply_config(session, parse_config(config.replace("ZONE", name)))
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Schedule)) == 0
        assert await session.scalar(select(func.count()).select_from(User)) == 0
