"""Whole directories for the pages: every row of a paginated service listing.

The API pages its lists; a page showing everyone (the on-call board, the people directory, a
person picker) asks the same service functions page after page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import MAX_LIMIT, PageParams, decode_cursor
from app.people import service as people_service
from app.people.models import Team, User

T = TypeVar("T")


async def every_page(
    fetch: Callable[[PageParams], Awaitable[tuple[Sequence[T], str | None]]],
) -> list[T]:
    """Every item of a paginated service listing, page after page."""
    items: list[T] = []
    after: int | None = None
    while True:
        page, cursor = await fetch(PageParams(limit=MAX_LIMIT, after_id=after))
        items.extend(page)
        if cursor is None or not page:
            return items
        after = decode_cursor(cursor)


async def all_teams(session: AsyncSession) -> list[Team]:
    """Every team, by name."""
    teams = await every_page(lambda page: people_service.list_teams(session, page))
    return sorted(teams, key=lambda team: team.name.lower())


async def everyone(session: AsyncSession) -> list[User]:
    """Every user, by name."""
    users = await every_page(lambda page: people_service.list_users(session, page))
    return sorted(users, key=lambda user: user.name.lower())
