"""Who is calling, and what they may do.

Every route declares what it needs with one of the dependencies below (``Reader``, ``Writer``,
``AdminOnly``) or is listed as public with its own authentication (integration keys, provider
signatures, calendar feed tokens). Team-scoped checks happen in services, where the resource
and its owning team are known.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.authguard import Credential, auth_guard, source_address
from app.core.errors import Forbidden, Unauthenticated
from app.core.session import get_session


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class TeamRole(StrEnum):
    MANAGER = "manager"
    MEMBER = "member"


@dataclass(frozen=True)
class Principal:
    user_id: int
    role: Role
    team_ids: frozenset[int] = field(default_factory=frozenset)
    managed_team_ids: frozenset[int] = field(default_factory=frozenset)
    token_id: int | None = None
    # How the request arrived, recorded on timelines ("api", "slack", "sms", "voice", "cli").
    channel: str = "api"

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def can_write(self) -> bool:
        return self.role in (Role.ADMIN, Role.MEMBER)

    def require_write(self) -> None:
        if not self.can_write:
            raise Forbidden("viewers can look but not change anything")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("only admins can do this")

    def require_self_or_admin(self, user_id: int) -> None:
        self.require_write()
        if not (self.is_admin or self.user_id == user_id):
            raise Forbidden("members can only change their own profile")

    def can_edit_team_resource(self, team_id: int | None) -> bool:
        if self.is_admin:
            return True
        return self.can_write and team_id is not None and team_id in self.team_ids

    def require_team_write(self, team_id: int | None, what: str = "this") -> None:
        self.require_write()
        if not self.can_edit_team_resource(team_id):
            raise Forbidden(f"only members of the owning team or admins can change {what}")

    def require_team_manager(self, team_id: int) -> None:
        self.require_write()
        if not (self.is_admin or team_id in self.managed_team_ids):
            raise Forbidden("only the team's managers or admins can change its membership")


TokenResolver = Callable[[AsyncSession, str], Awaitable[Principal | None]]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


async def current_principal(
    request: Request, session: Annotated[AsyncSession, Depends(get_session, scope="function")]
) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated()
    guard, address = auth_guard(request), source_address(request)
    guard.check(address, Credential.API_TOKEN)
    resolve: TokenResolver = request.app.state.resolve_token
    principal = await resolve(session, token)
    if principal is None:
        guard.failed(address, Credential.API_TOKEN)
        raise Unauthenticated("the API token is unknown, expired or revoked")
    request.state.principal = principal
    return principal


async def _reader(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    return principal


async def _writer(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    principal.require_write()
    return principal


async def _admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    principal.require_admin()
    return principal


Reader = Annotated[Principal, Depends(_reader)]
Writer = Annotated[Principal, Depends(_writer)]
AdminOnly = Annotated[Principal, Depends(_admin)]

# Routes that authenticate some other way declare it here; the authorization sweep test reads it.
PUBLIC_AUTH_KEY = "x-baton-auth"


def public_route(kind: str) -> dict[str, dict[str, str]]:
    """``openapi_extra`` for a route that does not use API tokens, saying what it uses instead."""
    return {PUBLIC_AUTH_KEY: {"kind": kind}}
