"""Reading the audit log straight from the database, as the tests check it."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.audit.models import AuditRecord
from app.core.db import Database


async def audit_rows(db: Database, entity_type: str | None = None) -> list[AuditRecord]:
    async with db.transaction() as session:
        stmt = select(AuditRecord).order_by(AuditRecord.id)
        if entity_type is not None:
            stmt = stmt.where(AuditRecord.entity_type == entity_type)
        return list((await session.scalars(stmt)).all())


async def audit_dump(db: Database) -> str:
    """Every stored audit row as one JSON text, to search for what must never be there."""
    rows = await audit_rows(db)
    return json.dumps(
        [
            {
                column.name: getattr(row, column.key)
                for column in AuditRecord.__table__.columns  # type: ignore[attr-defined]
            }
            for row in rows
        ],
        default=str,
    )
