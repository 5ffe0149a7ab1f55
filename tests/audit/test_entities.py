"""The audit policy names real tables and columns, and leaves the engine's tables out."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from app.audit.entities import AUDITED_COLLECTIONS, AUDITED_PARTS, AUDITED_TABLES
from app.core.clock import ManualClock
from app.core.db import Base, Database
from app.core.settings import Settings
from app.main import Overrides, create_app
from tests.audit.helpers import audit_dump, audit_rows

NOT_CONFIGURATION = {
    "incidents",
    "incident_events",
    "alerts",
    "notifications",
    "pages",
    "audit_log",
    "schedule_shift_reminders",
    "inbound_receipts",
    "sms_reply_codes",
}


def test_every_audited_name_is_a_real_table_and_column() -> None:
    tables = Base.metadata.tables
    for name, spec in AUDITED_TABLES.items():
        assert name in tables, name
        columns = set(tables[name].columns.keys())
        assert spec.id_column in columns, name
        assert spec.ignore <= columns, (name, spec.ignore - columns)
        assert {column for column, _ in spec.transitions} <= columns, name
    for name, part in AUDITED_PARTS.items():
        columns = set(tables[name].columns.keys())
        assert {part.parent_column, part.closed_by} | part.ignore <= columns, name
    for name, relationships in AUDITED_COLLECTIONS.items():
        mapper = next(m for m in Base.registry.mappers if m.local_table.name == name)
        assert set(relationships) <= set(mapper.relationships.keys())
    assert NOT_CONFIGURATION.isdisjoint(AUDITED_TABLES) and set(tables) >= NOT_CONFIGURATION


async def test_the_bootstrap_admin_is_on_record_as_made_by_baton_itself(
    settings: Settings, clock: ManualClock, db: Database
) -> None:
    secret = "baton_" + "b00tstrap" * 5
    bootstrapped = settings.model_copy(update={"bootstrap_token": SecretStr(secret)})
    app = create_app(bootstrapped, clock=clock, overrides=Overrides(database=db))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://baton.test") as client:
            headers = {"Authorization": f"Bearer {secret}"}
            assert (await client.get("/api/v1/audit", headers=headers)).status_code == 200
    rows = await audit_rows(db)
    assert [(r.entity_type, r.action) for r in rows] == [("user", "created"), ("token", "created")]
    assert {(r.actor_kind, r.actor_label, r.channel) for r in rows} == {
        ("system", "bootstrap", "system")
    }
    assert secret not in await audit_dump(db)
