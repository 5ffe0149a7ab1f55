"""The engine's web-prune job forgets ended sessions and spent sign-in links of people who
never sign in again, and keeps everything a sign-in can still use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.core.clock import ManualClock
from app.core.db import Database
from app.main import _build_engine
from app.web.models import SignInLink, SignInMethod, WebSession
from app.web.retention import prune
from app.web.sessions import KEEP_ENDED
from tests.factories import Factory


async def _seed(db: Database, factory: Factory, clock: ManualClock) -> None:
    user = await factory.user()
    now = clock.now()
    long_ago = now - KEEP_ENDED - timedelta(hours=1)
    sessions = {
        "live": (now + timedelta(days=1), None),
        "revoked-lately": (now + timedelta(days=1), now - timedelta(days=1)),
        "revoked-long-ago": (now + timedelta(days=1), long_ago),
        "expired-lately": (now - timedelta(days=1), None),
        "expired-long-ago": (long_ago, None),
    }
    links = {"usable": now + timedelta(minutes=10), "expired": now - timedelta(seconds=1)}
    async with db.transaction() as session:
        for name, (expires_at, revoked_at) in sessions.items():
            session.add(
                WebSession(
                    user_id=user.id,
                    token_hash=name,
                    method=SignInMethod.MAGIC_LINK,
                    created_at=now - timedelta(days=30),
                    expires_at=expires_at,
                    last_seen_at=now - timedelta(days=30),
                    revoked_at=revoked_at,
                )
            )
        for name, expires_at in links.items():
            session.add(
                SignInLink(
                    user_id=user.id,
                    token_hash=name,
                    created_at=now - timedelta(minutes=20),
                    expires_at=expires_at,
                )
            )


async def _kept(db: Database) -> tuple[set[str], set[str]]:
    async with db.transaction() as session:
        sessions = set(await session.scalars(select(WebSession.token_hash)))
        links = set(await session.scalars(select(SignInLink.token_hash)))
    return sessions, links


async def test_ended_sessions_and_expired_links_go_and_live_ones_stay(
    db: Database, factory: Factory, clock: ManualClock
) -> None:
    await _seed(db, factory, clock)
    assert await prune(db) == 3
    assert await _kept(db) == ({"live", "revoked-lately", "expired-lately"}, {"usable"})
    assert await prune(db) == 0, "nothing left to prune"
    clock.advance(days=7)
    assert await prune(db) == 3, "a week on, the two that ended lately go, and the link expired"
    assert await _kept(db) == ({"live"}, set()), "the live one ended 6 days ago: kept a day more"


async def test_the_engine_prunes_them_every_hour(
    db: Database, factory: Factory, clock: ManualClock, app: Any, settings: Any
) -> None:
    engine = _build_engine(
        settings.model_copy(update={"engine_enabled": True}),
        db,
        app.state.dispatcher,
        app.state.notifier,
    )
    assert engine is not None
    interval, job = engine._jobs["web-prune"]
    assert interval == 3600
    await _seed(db, factory, clock)
    await job()
    assert await _kept(db) == ({"live", "revoked-lately", "expired-lately"}, {"usable"})
