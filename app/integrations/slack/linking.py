"""Which Baton user a Slack user is.

Slack users are matched to Baton users by e-mail: the first time someone clicks, Baton reads
their Slack profile (``users.info``) and looks for a Baton user with that address; the match
is remembered in ``slack_user_links``. Admins can also link (or unlink) explicitly through the
API when the addresses differ. Network calls happen outside transactions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database
from app.integrations.slack.client import SlackApi
from app.integrations.slack.models import SlackUserLink
from app.people import service as people

ANY_TEAM = ""  # an admin link made without naming the workspace matches any of them


async def linked_user_id(session: AsyncSession, team_id: str, slack_user_id: str) -> int | None:
    link = await session.scalar(
        select(SlackUserLink)
        .where(
            SlackUserLink.slack_user_id == slack_user_id,
            SlackUserLink.slack_team_id.in_([team_id, ANY_TEAM]),
        )
        .order_by(SlackUserLink.slack_team_id.desc())
        .limit(1)
    )
    return link.user_id if link is not None else None


async def link_for_user(session: AsyncSession, user_id: int) -> SlackUserLink | None:
    return await session.scalar(
        select(SlackUserLink).where(SlackUserLink.user_id == user_id).order_by(SlackUserLink.id)
    )


async def save_link(
    session: AsyncSession,
    *,
    team_id: str,
    slack_user_id: str,
    user_id: int,
    method: str,
    now: datetime,
) -> SlackUserLink:
    """Link (or re-link) a Slack user; one Baton user may have one link per workspace."""
    # Row by row rather than one DELETE statement, so the audit log sees each link go.
    replaced = await session.scalars(
        select(SlackUserLink).where(
            SlackUserLink.slack_team_id == team_id,
            (SlackUserLink.slack_user_id == slack_user_id) | (SlackUserLink.user_id == user_id),
        )
    )
    for old in replaced.all():
        await session.delete(old)
    await session.flush()
    link = SlackUserLink(
        slack_team_id=team_id,
        slack_user_id=slack_user_id,
        user_id=user_id,
        method=method,
        linked_at=now,
    )
    session.add(link)
    await session.flush()
    return link


async def unlink(session: AsyncSession, user_id: int) -> int:
    links = (
        await session.scalars(select(SlackUserLink).where(SlackUserLink.user_id == user_id))
    ).all()
    for link in links:
        await session.delete(link)
    await session.flush()
    return len(links)


async def resolve_user(db: Database, api: SlackApi, team_id: str, slack_user_id: str) -> int | None:
    """The Baton user behind a Slack user, linking them by e-mail on first sight."""
    async with db.transaction() as session:
        known = await linked_user_id(session, team_id, slack_user_id)
    if known is not None:
        return known
    profile = await api.user(slack_user_id)  # network: outside any transaction
    if profile is None or not profile.email:
        return None
    async with db.transaction() as session:
        user = await people.get_user_by_email(session, profile.email)
        if user is None:
            return None
        await save_link(
            session,
            team_id=team_id,
            slack_user_id=slack_user_id,
            user_id=user.id,
            method="email",
            now=db.clock.now(),
        )
        return user.id
