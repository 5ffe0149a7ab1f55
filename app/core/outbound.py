"""The save-time check of a URL Baton will send to, as the services raise it (422)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import session_network_policy
from app.core.errors import InvalidInput
from app.core.netguard import BlockedDestination


async def ensure_url_allowed(session: AsyncSession, url: str, *, field: str) -> None:
    """Refuse, naming the field and the reason, a URL in a network Baton does not send to."""
    try:
        await session_network_policy(session).check_url(url)
    except BlockedDestination as exc:
        raise InvalidInput(
            f"{field.rsplit('.', 1)[-1]}: {exc.reason}", field=field, code="destination_blocked"
        ) from None
