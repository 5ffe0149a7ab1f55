"""The web layer's own tables: signed-in browser sessions and pending sign-in links.

Both hold a random secret that only its holder has (the session cookie, the e-mailed link) and
store nothing but its SHA-256, like API tokens. They belong to the web layer, not to people:
the API never reads them, and the people domain must not import the web layer.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, str_enum


class SignInMethod(StrEnum):
    MAGIC_LINK = "magic-link"
    API_TOKEN = "api-token"  # noqa: S105 - a way of signing in, not a secret
    # OpenID Connect single sign-on: its sessions are rows like the others.
    OIDC = "oidc"


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[IntPK]
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    method: Mapped[SignInMethod] = mapped_column(str_enum(SignInMethod, 16))
    # A session opened with a pasted API token ends when that token is revoked (or gone: no
    # foreign key, the id is only looked up, and a missing token ends the session too).
    api_token_id: Mapped[int | None] = mapped_column(BigIntegerType, index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class SignInLink(Base):
    __tablename__ = "web_sign_in_links"

    id: Mapped[IntPK]
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Where to go once signed in: a same-site path, checked before it was stored.
    next_path: Mapped[str] = mapped_column(String(2000), default="/")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
