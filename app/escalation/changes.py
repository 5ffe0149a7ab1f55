"""This process's count of committed changes to escalation policies.

The inbound gateway (app/integrations) keeps each service's policy snapshot beside the service
it caches, so a storm's batches cost no policy read each. It reuses the snapshot only while
this count is unchanged: a committed change here reaches the next alert at once; other
replicas' changes reach it with the cached service, within ``CACHE_SECONDS``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.db import on_commit
from app.escalation.models import EscalationPolicy, EscalationStep, EscalationTarget

_POLICY_ROWS = (EscalationPolicy, EscalationStep, EscalationTarget)
_revision = 0


def revision() -> int:
    return _revision


def _changed() -> None:
    global _revision
    _revision += 1


def _after_flush(session: Session, _context: Any) -> None:
    # Before the flush's lists are reset: what it wrote.
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, _POLICY_ROWS):
            on_commit(session, _changed)
            return


def watch() -> None:
    """Count policy changes in every session of this process (``app.wiring.wire``)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
