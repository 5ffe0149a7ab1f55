"""Web sign-in state past its use, deleted by an engine job in small batches: sessions ended
more than ``sessions.KEEP_ENDED`` ago and sign-in links past their expiry. Each user's are also
forgotten when that user next signs in; this job takes those of people who never come back."""

from __future__ import annotations

import logging

from sqlalchemy import or_

from app.core.db import Database
from app.core.retention import delete_in_batches
from app.web.models import SignInLink, WebSession
from app.web.sessions import KEEP_ENDED

log = logging.getLogger(__name__)


async def prune(db: Database) -> int:
    """Delete what no sign-in can use any more; returns how many rows went. Any replica may
    run it: deleting twice deletes nothing."""
    now = db.clock.now()
    cutoff = now - KEEP_ENDED
    sessions = await delete_in_batches(
        db, WebSession, or_(WebSession.expires_at <= cutoff, WebSession.revoked_at <= cutoff)
    )
    links = await delete_in_batches(db, SignInLink, SignInLink.expires_at <= now)
    if sessions or links:
        log.info("web sign-in state pruned", extra={"sessions": sessions, "links": links})
    return sessions + links
