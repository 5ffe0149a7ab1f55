"""Deleting old rows in small batches, so a long backlog never holds locks for long.

Each batch is its own short transaction: select the ids (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so two replicas pruning at once take different rows), delete them, commit. Deleting
twice deletes nothing, so the prune jobs need no claim across replicas.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, select, update

from app.core.db import Database

PRUNE_BATCH = 500


async def delete_in_batches(
    db: Database,
    model: type[Any],
    which: ColumnElement[bool],
    *,
    batch: int = PRUNE_BATCH,
) -> int:
    """Delete the rows of ``model`` that ``which`` picks; returns how many."""
    deleted = 0
    while True:
        async with db.transaction() as session:
            ids = list(
                await session.scalars(
                    select(model.id)
                    .where(which)
                    .order_by(model.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            if ids:
                await session.execute(
                    delete(model)
                    .where(model.id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
        deleted += len(ids)
        if len(ids) < batch:
            return deleted


async def update_in_batches(
    db: Database,
    model: type[Any],
    which: ColumnElement[bool],
    values: dict[str, Any],
    *,
    batch: int = PRUNE_BATCH,
) -> int:
    """Set ``values`` on the rows ``which`` picks (``which`` must stop matching a row once it
    is updated, or this never ends); returns how many."""
    changed = 0
    while True:
        async with db.transaction() as session:
            ids = list(
                await session.scalars(
                    select(model.id)
                    .where(which)
                    .order_by(model.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            if ids:
                await session.execute(
                    update(model)
                    .where(model.id.in_(ids))
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
        changed += len(ids)
        if len(ids) < batch:
            return changed
