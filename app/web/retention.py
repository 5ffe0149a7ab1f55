"""Web sign-in state past its use, deleted by an engine job in small batches: sessions ended
more than ``sessions.KEEP_ENDED`` ago and sign-in links past their expiry. Each user's are also
forgotten when that user next signs in; this job takes those of people who never come back."""

from __future__ import annotations

import logging

from app.core.db import Database
from app.core.retention import delete_in_batches
from app.web.magic_links import expired
from app.web.models import SignInLink, WebSession
from app.web.sessions import ended_long_ago

log = logging.getLogger(__name__)


async def prune(db: Database) -> int:
    """Delete what no sign-in can use any more; returns how many rows went. Any replica may
    run it: deleting twice deletes nothing."""
    now = db.clock.now()
    sessions = await delete_in_batches(db, WebSession, ended_long_ago(now))
    links = await delete_in_batches(db, SignInLink, expired(now))
    if sessions or links:
        log.info("web sign-in state pruned", extra={"sessions": sessions, "links": links})
    return sessions + links
