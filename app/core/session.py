"""The request-scoped session: commit at the edge, before the response is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.db import Database, run_after_commit
from app.core.errors import BatonError
from app.core.settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield the request's session and commit it when the route returns.

    Declared with ``scope="function"`` so the commit happens before the response leaves:
    a 2xx means the data is durable, and a failed commit becomes an error answer.
    """
    db: Database = request.app.state.db
    session = db.new_session()
    try:
        yield session
        await session.commit()
    except BatonError as exc:
        if exc.keep_changes:
            await session.commit()
        else:
            await session.rollback()
        session.info.pop("after_commit", None)
        raise
    except BaseException:
        await session.rollback()
        session.info.pop("after_commit", None)
        raise
    finally:
        await session.close()
    await run_after_commit(session)


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
