"""Factories that build people straight in the database, each in its own committed transaction."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from app.core.auth import Role, TeamRole
from app.core.db import Database
from app.people import service as people
from app.people.models import ContactMethod, ContactType, Team, TeamKind, TeamMembership, User

_sequence = itertools.count(1)


@dataclass(frozen=True)
class Actor:
    """A user with an API token, as a test talks to the API."""

    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Factory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def user(
        self,
        *,
        name: str | None = None,
        email: str | None = None,
        role: Role = Role.MEMBER,
        time_zone: str = "UTC",
    ) -> User:
        n = next(_sequence)
        async with self.db.transaction() as session:
            user = User(
                name=name or f"User {n}",
                email=email or f"user{n}@example.com",
                time_zone=time_zone,
                role=role,
            )
            session.add(user)
        return user

    async def actor(self, role: Role = Role.MEMBER, **kwargs: object) -> Actor:
        user = await self.user(role=role, **kwargs)  # type: ignore[arg-type]
        async with self.db.transaction() as session:
            issued = await people.issue_token(session, user.id, "test")
        return Actor(user.id, user.email, issued.secret)

    async def team(self, *, name: str | None = None, kind: TeamKind = TeamKind.OPS) -> Team:
        n = next(_sequence)
        async with self.db.transaction() as session:
            team = Team(name=name or f"team-{n}", kind=kind)
            session.add(team)
        return team

    async def member(
        self, team_id: int, user_id: int, role: TeamRole = TeamRole.MEMBER
    ) -> TeamMembership:
        async with self.db.transaction() as session:
            membership = TeamMembership(team_id=team_id, user_id=user_id, role=role)
            session.add(membership)
        return membership

    async def contact_method(
        self, user_id: int, type: ContactType, address: str, *, verified: bool = True
    ) -> ContactMethod:
        async with self.db.transaction() as session:
            method = ContactMethod(
                user_id=user_id,
                type=type,
                address=address,
                verified_at=self.db.clock.now() if verified else None,
            )
            session.add(method)
        return method
