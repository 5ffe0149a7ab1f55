"""Deleting old rows in small batches, so a long backlog never holds locks for long.

Each batch is its own short transaction: select the ids (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so two replicas pruning at once take different rows), delete them, commit. Deleting
twice deletes nothing, so the prune jobs need no claim across replicas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Executable, delete, select, update

from app.core.db import Database

PRUNE_BATCH = 500


async def _in_batches(
    db: Database,
    model: type[Any],
    which: ColumnElement[bool],
    change: Callable[[list[int]], Executable],
    batch: int,
) -> int:
    """Run ``change`` on the ids ``which`` picks, a batch per transaction; returns how many."""
    done = 0
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
                await session.execute(change(ids).execution_options(synchronize_session=False))
        done += len(ids)
        if len(ids) < batch:
            return done


async def delete_in_batches(
    db: Database,
    model: type[Any],
    which: ColumnElement[bool],
    *,
    batch: int = PRUNE_BATCH,
) -> int:
    """Delete the rows of ``model`` that ``which`` picks; returns how many."""
    return await _in_batches(
        db, model, which, lambda ids: delete(model).where(model.id.in_(ids)), batch
    )


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
    return await _in_batches(
        db, model, which, lambda ids: update(model).where(model.id.in_(ids)).values(**values), batch
    )
