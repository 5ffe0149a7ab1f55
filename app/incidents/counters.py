"""Prometheus counters of incident events, counted when their transaction commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import on_commit
from app.core.metrics import INCIDENTS_OPENED
from app.incidents import events as ev
from app.incidents.subscribers import Applied


async def count(session: AsyncSession, applied: Applied) -> None:
    if isinstance(applied.event, ev.Opened):
        on_commit(session, INCIDENTS_OPENED.inc)
