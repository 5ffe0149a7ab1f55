"""Web sessions: opened at sign-in, looked up on every page, revoked at sign-out.

The browser holds a random secret (the ``baton_session`` cookie); the row holds its SHA-256,
so a copy of the database opens no session. A session lasts a fixed time from sign-in
(``BATON_WEB_SESSION_HOURS``), never longer than the API token it was opened with, and ends
early when it is revoked or that token is. Runs inside the caller's transaction; never commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import session_clock
from app.core.security import hash_secret
from app.people.models import ApiToken
from app.web.models import SignInMethod, WebSession

SESSION_COOKIE = "baton_session"
# Writing last_seen_at on every page would turn every read into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)
# Ended sessions are kept this long (what a support question about a sign-in needs), then
# deleted when their user next signs in, or by the engine's web-prune job (app/web/retention.py).
KEEP_ENDED = timedelta(days=7)


@dataclass(frozen=True)
class OpenedSession:
    row: WebSession
    # Goes into the cookie, once; only its hash is stored.
    secret: str


async def open_session(
    session: AsyncSession,
    user_id: int,
    method: SignInMethod,
    *,
    lifetime: timedelta,
    api_token: ApiToken | None = None,
) -> OpenedSession:
    now = session_clock(session).now()
    await _forget_ended(session, user_id, now)
    expires_at = now + lifetime
    if api_token is not None and api_token.expires_at is not None:
        expires_at = min(expires_at, api_token.expires_at)
    secret = secrets.token_urlsafe(32)
    row = WebSession(
        user_id=user_id,
        token_hash=hash_secret(secret),
        method=method,
        api_token_id=api_token.id if api_token is not None else None,
        created_at=now,
        expires_at=expires_at,
        last_seen_at=now,
    )
    session.add(row)
    await session.flush()
    return OpenedSession(row, secret)


async def live_session(session: AsyncSession, secret: str) -> WebSession | None:
    """The session this cookie opens, if it is still open."""
    row = await session.scalar(
        select(WebSession).where(WebSession.token_hash == hash_secret(secret))
    )
    now = session_clock(session).now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.api_token_id is not None:
        token = await session.get(ApiToken, row.api_token_id)
        if token is None or token.revoked_at is not None:
            return None
    if now - row.last_seen_at > LAST_SEEN_RESOLUTION:
        row.last_seen_at = now
    return row


def end_session(session: AsyncSession, row: WebSession) -> None:
    if row.revoked_at is None:
        row.revoked_at = session_clock(session).now()


def ended_long_ago(now: datetime) -> ColumnElement[bool]:
    """Sessions that ended (expired or revoked) more than ``KEEP_ENDED`` before ``now``."""
    cutoff = now - KEEP_ENDED
    return or_(WebSession.expires_at <= cutoff, WebSession.revoked_at <= cutoff)


async def _forget_ended(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        delete(WebSession).where(WebSession.user_id == user_id, ended_long_ago(now))
    )
