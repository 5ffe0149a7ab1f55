"""Inbound provider requests already acted on: a replayed or retried request acts only once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.notify.channel_models import InboundReceipt


async def first_time(session: AsyncSession, source: str, key: str, now: datetime) -> bool:
    """Record ``(source, key)``; False when it was recorded before.

    Two copies racing each other both pass the check, and the unique constraint fails the
    second one's transaction at flush, so it still acts only once.
    """
    key = key[:128]
    seen = await session.scalar(
        select(InboundReceipt.id).where(InboundReceipt.source == source, InboundReceipt.key == key)
    )
    if seen is not None:
        return False
    session.add(InboundReceipt(source=source, key=key, received_at=now))
    await session.flush()
    return True
