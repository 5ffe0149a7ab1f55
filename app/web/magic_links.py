"""Sign-in links: asked for with an e-mail address, e-mailed, used once within minutes.

The link's token is 40 random decimal digits (133 bits): the console notifier, which prints
what it sends when no e-mail provider is configured, masks digit runs in verification messages
outside development, so a production or CI console never shows a working link, while the
development console (``make run``) prints it whole. Only the token's SHA-256 is stored.
Runs inside the caller's transaction; never commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import session_clock
from app.core.errors import BatonError
from app.core.security import hash_secret
from app.notify.base import MessageKind, OutboundMessage
from app.people.models import ContactMethod, ContactType, User
from app.web.models import SignInLink

LINK_PATH = "/sign-in/link"
TOKEN_DIGITS = 40
MAX_EMAIL_LENGTH = 320


class LinkNotUsable(BatonError):
    status_code = 400
    code = "sign_in_link_not_usable"

    def __init__(self) -> None:
        super().__init__("this sign-in link has expired or was already used; ask for a new one")


def new_link_token() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(TOKEN_DIGITS))


def expired(now: datetime) -> ColumnElement[bool]:
    """Links no sign-in can use any more (used or not)."""
    return SignInLink.expires_at <= now


def link_path(token: str) -> str:
    return f"{LINK_PATH}?{urlencode({'token': token})}"


@dataclass(frozen=True)
class PendingLink:
    link: SignInLink
    message: OutboundMessage


async def request_link(
    session: AsyncSession,
    email: str,
    *,
    next_path: str,
    lifetime: timedelta,
    public_url: str,
) -> PendingLink | None:
    """A new link for the user with this account e-mail, and the message that carries it;
    None when nobody has that address (the caller answers the same either way)."""
    address = email.strip().lower()
    if not address or len(address) > MAX_EMAIL_LENGTH:
        return None
    user = await session.scalar(select(User).where(User.email == address))
    if user is None:
        return None
    now = session_clock(session).now()
    # Links that can no longer be used are of no interest to anyone: forget them.
    await session.execute(delete(SignInLink).where(SignInLink.user_id == user.id, expired(now)))
    token = new_link_token()
    link = SignInLink(
        user_id=user.id,
        token_hash=hash_secret(token),
        next_path=next_path,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(link)
    await session.flush()
    minutes = int(lifetime.total_seconds() // 60)
    path = link_path(token)
    message = OutboundMessage(
        contact_type=ContactType.EMAIL,
        address=await _sign_in_address(session, user),
        kind=MessageKind.VERIFICATION,
        subject="Your Baton sign-in link",
        # One line: the console notifier prints it as is, and the whole link must be on it.
        text=f"Sign in to Baton: {public_url}{path} (works once, for {minutes} minutes; "
        "if you did not ask for it, ignore this message)",
        user_id=user.id,
        context={"path": path},
    )
    return PendingLink(link, message)


async def _sign_in_address(session: AsyncSession, user: User) -> str:
    """The user's first usable e-mail contact method, else the account's address."""
    method = await session.scalar(
        select(ContactMethod)
        .where(
            ContactMethod.user_id == user.id,
            ContactMethod.type == ContactType.EMAIL,
            ContactMethod.verified_at.is_not(None),
            ContactMethod.disabled_at.is_(None),
        )
        .order_by(ContactMethod.id)
        .limit(1)
    )
    return method.address if method is not None else user.email


async def usable_link(session: AsyncSession, token: str) -> SignInLink:
    """The link this token opens, not yet used and not expired (it is not used up here)."""
    link = await session.scalar(
        select(SignInLink).where(SignInLink.token_hash == hash_secret(token))
    )
    now = session_clock(session).now()
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise LinkNotUsable()
    return link


async def use_link(session: AsyncSession, token: str) -> SignInLink:
    """Use the link up: of two requests racing with the same token, one wins."""
    link = await usable_link(session, token)
    now = session_clock(session).now()
    claimed = await session.execute(
        update(SignInLink)
        .where(SignInLink.id == link.id, SignInLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkNotUsable()
    link.used_at = now
    return link
