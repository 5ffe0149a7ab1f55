"""In a storm, finding the alerts and groups an inbound batch names costs what the batch names,
not what the storm has already stored, even with table statistics from before the storm.

PostgreSQL's planner, asked for ``key = ANY(...)`` with statistics that say few alerts fire,
scanned every firing alert (every open incident of the service) and filtered: a cost that grew
with each alert of the storm. The look-ups now go one key at a time through the unique index."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import Insert, Select, Table, func, insert, select, text, true

from app.alerts import service as alerts
from app.alerts.models import Alert
from app.core.db import Database
from app.incidents.models import Incident
from tests.factories import Factory
from tests.worlds import build_payments_world

STORED = 20_000
NAMED = 16


def _copies(table: Table, row_id: int, key_column: str, prefix: str) -> Insert:
    """``STORED`` copies of the row ``row_id`` of ``table``, ``key_column`` set to ``prefix``
    and 1, 2, ... ``STORED``."""
    series = func.generate_series(1, STORED).table_valued("n").render_derived()
    columns = [c for c in table.columns if c.name != "id"]
    values = [func.concat(prefix, series.c.n) if c.name == key_column else c for c in columns]
    source = select(*values).select_from(table.join(series, true())).where(table.c.id == row_id)
    return insert(table).from_select([c.name for c in columns], source)


async def _pages_read(db: Database, statement: Select[Any], params: dict[str, Any]) -> int:
    """Shared buffers the statement touched (hit or read), by EXPLAIN (ANALYZE, BUFFERS)."""
    compiled = statement.compile(dialect=db.engine.dialect)
    async with db.engine.connect() as connection:
        result = await connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {compiled}",
            compiled.construct_params(params),
        )
        (document,) = result.scalars().all()
        await connection.rollback()
    plan = (document if isinstance(document, list) else json.loads(document))[0]["Plan"]
    return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])


async def test_storm_lookups_read_what_they_name_not_what_the_storm_stored(
    client: httpx.AsyncClient, factory: Factory, db: Database
) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the planner's choice: PostgreSQL")
    world = await build_payments_world(client, factory)
    incident_id = await world.fire("the storm's first", dedup_key="first")
    service_id = world.service["id"]
    async with db.engine.begin() as connection:
        first_alert = await connection.scalar(
            text("SELECT id FROM alerts WHERE incident_id = :id"), {"id": incident_id}
        )
        # Statistics from before the storm: one alert fires, one incident is open.
        await connection.execute(text("ANALYZE alerts"))
        await connection.execute(text("ANALYZE incidents"))
        await connection.execute(_copies(Alert.__table__, first_alert, "dedup_key", "storm-"))
        await connection.execute(_copies(Incident.__table__, incident_id, "group_key", "group-"))

    keys = [f"storm-{n}" for n in range(1, NAMED + 1)]
    params = {"service_id": service_id, "keys": keys}
    alert_pages = await _pages_read(db, alerts._FIRING_ALERTS_BY_KEY, params)
    groups = {"service_id": service_id, "keys": [f"group-{n}" for n in range(1, NAMED + 1)]}
    group_pages = await _pages_read(db, alerts._OPEN_GROUPS_BY_KEY, groups)
    # A few index pages and one heap page per key; a scan of what is stored reads hundreds.
    bound = 8 * NAMED
    assert alert_pages <= bound, f"{alert_pages} pages read to find {NAMED} firing alerts"
    assert group_pages <= bound, f"{group_pages} pages read to find {NAMED} open groups"

    # And they find what they name.
    async with db.new_session() as session:
        found = await alerts._firing_alerts(session, service_id, [*keys, "absent"])
        assert sorted(found) == sorted(keys)
        open_groups = await alerts._open_group_incidents(session, service_id, groups["keys"])
        assert sorted(open_groups) == sorted(groups["keys"])
