"""People: users, teams, memberships, contact methods, notification rules and API tokens.

Every operation runs inside the caller's transaction and never commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.audit import service as audit
from app.core.auth import Principal, Role, TeamRole
from app.core.db import on_commit, session_clock
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited
from app.core.outbound import ensure_url_allowed
from app.core.pagination import PageParams, paginate
from app.core.security import display_prefix, hash_secret, new_secret, numeric_code
from app.core.settings import Settings
from app.core.textsearch import contains_text
from app.people import schemas
from app.people.models import (
    ApiToken,
    ContactMethod,
    ContactType,
    NotificationRule,
    Team,
    TeamKind,
    TeamMembership,
    User,
)

TOKEN_PREFIX = "baton"  # noqa: S105 - a label, not a secret
# Writing last_used_at on every request would turn every read into a write.
TOKEN_USE_RESOLUTION = timedelta(minutes=5)


# --------------------------------------------------------------------------- tokens & principals


async def principal_for_token(session: AsyncSession, token: str) -> Principal | None:
    api_token = await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_secret(token))
    )
    now = session_clock(session).now()
    if api_token is None or api_token.revoked_at is not None:
        return None
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    if api_token.last_used_at is None or now - api_token.last_used_at > TOKEN_USE_RESOLUTION:
        api_token.last_used_at = now
    return await principal_for_user(session, api_token.user_id, token_id=api_token.id)


async def principal_for_user(
    session: AsyncSession, user_id: int, *, token_id: int | None = None, channel: str = "api"
) -> Principal | None:
    user = await session.get(User, user_id)
    if user is None:
        return None
    rows = (
        await session.execute(
            select(TeamMembership.team_id, TeamMembership.role).where(
                TeamMembership.user_id == user_id
            )
        )
    ).all()
    principal = Principal(
        user_id=user.id,
        role=user.role,
        team_ids=frozenset(team_id for team_id, _ in rows),
        managed_team_ids=frozenset(t for t, role in rows if role is TeamRole.MANAGER),
        token_id=token_id,
        channel=channel,
    )
    # Whoever a session acts for is who the audit log names for its changes.
    audit.act_as(session, audit.Actor.of(principal))
    return principal


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


async def issue_token(
    session: AsyncSession,
    user_id: int,
    name: str,
    *,
    expires_at: datetime | None = None,
    secret: str | None = None,
) -> IssuedToken:
    now = session_clock(session).now()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future", field="body.expires_at")
    secret = secret or new_secret(TOKEN_PREFIX)
    token = ApiToken(
        user_id=user_id,
        name=name,
        prefix=display_prefix(secret, TOKEN_PREFIX),
        token_hash=hash_secret(secret),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    await session.flush()
    return IssuedToken(token, secret)


async def create_token(
    session: AsyncSession, principal: Principal, data: schemas.TokenCreate
) -> IssuedToken:
    owner_id = data.user_id if data.user_id is not None else principal.user_id
    if owner_id != principal.user_id:
        principal.require_admin()
    await get_user(session, owner_id)
    return await issue_token(session, owner_id, data.name, expires_at=data.expires_at)


async def list_tokens(
    session: AsyncSession, principal: Principal, user_id: int | None
) -> Sequence[ApiToken]:
    owner_id = user_id if user_id is not None else principal.user_id
    if owner_id != principal.user_id:
        principal.require_admin()
    stmt = select(ApiToken).where(ApiToken.user_id == owner_id).order_by(ApiToken.id)
    return (await session.scalars(stmt)).all()


async def revoke_token(session: AsyncSession, principal: Principal, token_id: int) -> ApiToken:
    token = await session.get(ApiToken, token_id)
    if token is None or (token.user_id != principal.user_id and not principal.is_admin):
        raise NotFound(f"token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = session_clock(session).now()
    return token


async def ensure_bootstrap_admin(
    session: AsyncSession, *, email: str, name: str, token_secret: str | None
) -> tuple[User, IssuedToken | None]:
    """Make sure an admin exists and, if asked, that ``token_secret`` is one of its tokens.

    With ``token_secret`` unset a fresh token is issued only when the admin has no live token
    (it was just created, or every token was revoked or expired): a token is a secret printed
    once, not on every start. Running this twice with the same secret changes nothing, so
    containers can call it on every start.
    """
    user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(name=name, email=email, time_zone="UTC", role=Role.ADMIN)
        session.add(user)
        await session.flush()
    elif user.role is not Role.ADMIN:
        user.role = Role.ADMIN
    if token_secret is not None:
        existing = await session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_secret(token_secret))
        )
        if existing is not None:
            if existing.user_id != user.id or existing.revoked_at is not None:
                raise Conflict("the bootstrap token is already used by another user or revoked")
            return user, None
        return user, await issue_token(session, user.id, "bootstrap", secret=token_secret)
    if await _has_live_token(session, user.id):
        return user, None
    return user, await issue_token(session, user.id, "init")


async def _has_live_token(session: AsyncSession, user_id: int) -> bool:
    now = session_clock(session).now()
    live = await session.scalar(
        select(ApiToken.id)
        .where(
            ApiToken.user_id == user_id,
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
        .limit(1)
    )
    return live is not None


# --------------------------------------------------------------------------------------- users


async def list_users(
    session: AsyncSession,
    page: PageParams,
    *,
    q: str | None = None,
    email: str | None = None,
    role: Role | None = None,
    team_id: int | None = None,
) -> tuple[Sequence[User], str | None]:
    stmt = select(User)
    if q:
        stmt = stmt.where(or_(contains_text(User.name, q), contains_text(User.email, q)))
    if email:
        stmt = stmt.where(User.email == email.strip().lower())
    if role:
        stmt = stmt.where(User.role == role)
    if team_id is not None:
        stmt = stmt.where(
            User.id.in_(select(TeamMembership.user_id).where(TeamMembership.team_id == team_id))
        )
    return await paginate(session, stmt, User.id, page)


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.strip().lower()))


async def _ensure_email_free(session: AsyncSession, email: str, except_id: int | None) -> None:
    existing = await get_user_by_email(session, email)
    if existing is not None and existing.id != except_id:
        raise Conflict(f"a user with e-mail {email} already exists", field="email")


async def create_user(
    session: AsyncSession, principal: Principal, data: schemas.UserCreate
) -> User:
    principal.require_admin()
    await _ensure_email_free(session, data.email, None)
    user = User(name=data.name, email=data.email, time_zone=data.time_zone, role=data.role)
    session.add(user)
    await session.flush()
    return user


async def update_user(
    session: AsyncSession, principal: Principal, user_id: int, data: schemas.UserUpdate
) -> User:
    user = await get_user(session, user_id)
    principal.require_self_or_admin(user_id)
    changes = data.model_dump(exclude_unset=True)
    if "role" in changes and changes["role"] != user.role:
        principal.require_admin()
        if user.role is Role.ADMIN:
            await _ensure_another_admin(session, user.id)
    if "email" in changes:
        await _ensure_email_free(session, changes["email"], user.id)
    for key, value in changes.items():
        setattr(user, key, value)
    await session.flush()
    return user


async def _ensure_another_admin(session: AsyncSession, leaving_user_id: int) -> None:
    others = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN, User.id != leaving_user_id)
    )
    if not others:
        raise Conflict("Baton needs at least one admin; promote someone else first")


async def delete_user(session: AsyncSession, principal: Principal, user_id: int) -> None:
    principal.require_admin()
    user = await get_user(session, user_id)
    if user.role is Role.ADMIN:
        await _ensure_another_admin(session, user.id)
    await session.delete(user)
    await session.flush()


# --------------------------------------------------------------------------------------- teams


async def list_teams(
    session: AsyncSession,
    page: PageParams,
    *,
    q: str | None = None,
    kind: TeamKind | None = None,
    member_id: int | None = None,
) -> tuple[Sequence[Team], str | None]:
    stmt = select(Team)
    if q:
        stmt = stmt.where(contains_text(Team.name, q))
    if kind:
        stmt = stmt.where(Team.kind == kind)
    if member_id is not None:
        stmt = stmt.where(
            Team.id.in_(select(TeamMembership.team_id).where(TeamMembership.user_id == member_id))
        )
    return await paginate(session, stmt, Team.id, page)


async def get_team(session: AsyncSession, team_id: int, *, with_members: bool = False) -> Team:
    stmt = select(Team).where(Team.id == team_id)
    if with_members:
        stmt = stmt.options(selectinload(Team.memberships))
    team = await session.scalar(stmt)
    if team is None:
        raise NotFound(f"team {team_id} not found")
    return team


async def get_team_by_name(session: AsyncSession, name: str) -> Team | None:
    return await session.scalar(select(Team).where(func.lower(Team.name) == name.lower()))


async def _ensure_team_name_free(session: AsyncSession, name: str, except_id: int | None) -> None:
    existing = await get_team_by_name(session, name)
    if existing is not None and existing.id != except_id:
        raise Conflict(f"a team named {name!r} already exists", field="name")


async def create_team(
    session: AsyncSession, principal: Principal, data: schemas.TeamCreate
) -> Team:
    principal.require_write()
    await _ensure_team_name_free(session, data.name, None)
    team = Team(**data.model_dump())
    session.add(team)
    await session.flush()
    if not principal.is_admin:
        # Whoever creates a team can manage it; otherwise a member would lock themselves out.
        session.add(
            TeamMembership(team_id=team.id, user_id=principal.user_id, role=TeamRole.MANAGER)
        )
        await session.flush()
    return team


async def update_team(
    session: AsyncSession, principal: Principal, team_id: int, data: schemas.TeamUpdate
) -> Team:
    team = await get_team(session, team_id)
    principal.require_team_manager(team_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name"):
        await _ensure_team_name_free(session, changes["name"], team.id)
    for key, value in changes.items():
        setattr(team, key, value)
    await session.flush()
    return team


async def delete_team(session: AsyncSession, principal: Principal, team_id: int) -> None:
    team = await get_team(session, team_id)
    principal.require_team_manager(team_id)
    await session.delete(team)
    await session.flush()


async def list_members(session: AsyncSession, team_id: int) -> Sequence[TeamMembership]:
    await get_team(session, team_id)
    stmt = select(TeamMembership).where(TeamMembership.team_id == team_id)
    return (await session.scalars(stmt.order_by(TeamMembership.id))).all()


async def all_memberships(session: AsyncSession) -> Sequence[TeamMembership]:
    """Every membership of every team, in one query (a directory of people with their teams)."""
    stmt = select(TeamMembership).order_by(TeamMembership.team_id, TeamMembership.id)
    return (await session.scalars(stmt)).all()


async def add_member(
    session: AsyncSession, principal: Principal, team_id: int, data: schemas.MembershipCreate
) -> TeamMembership:
    await get_team(session, team_id)
    principal.require_team_manager(team_id)
    await get_user(session, data.user_id)
    existing = await _membership(session, team_id, data.user_id)
    if existing is not None:
        raise Conflict(f"user {data.user_id} is already a member of team {team_id}")
    membership = TeamMembership(team_id=team_id, user_id=data.user_id, role=data.role)
    session.add(membership)
    await session.flush()
    return membership


async def _membership(session: AsyncSession, team_id: int, user_id: int) -> TeamMembership | None:
    return await session.scalar(
        select(TeamMembership).where(
            TeamMembership.team_id == team_id, TeamMembership.user_id == user_id
        )
    )


async def _get_membership(session: AsyncSession, team_id: int, user_id: int) -> TeamMembership:
    await get_team(session, team_id)
    membership = await _membership(session, team_id, user_id)
    if membership is None:
        raise NotFound(f"user {user_id} is not a member of team {team_id}")
    return membership


async def update_member(
    session: AsyncSession,
    principal: Principal,
    team_id: int,
    user_id: int,
    data: schemas.MembershipUpdate,
) -> TeamMembership:
    membership = await _get_membership(session, team_id, user_id)
    principal.require_team_manager(team_id)
    membership.role = data.role
    await session.flush()
    return membership


async def remove_member(
    session: AsyncSession, principal: Principal, team_id: int, user_id: int
) -> None:
    membership = await _get_membership(session, team_id, user_id)
    if user_id != principal.user_id:
        principal.require_team_manager(team_id)
    else:
        principal.require_write()
    await session.delete(membership)
    await session.flush()


# ----------------------------------------------------------------------------- contact methods


async def list_contact_methods(session: AsyncSession, user_id: int) -> Sequence[ContactMethod]:
    await get_user(session, user_id)
    stmt = select(ContactMethod).where(ContactMethod.user_id == user_id).order_by(ContactMethod.id)
    return (await session.scalars(stmt)).all()


async def get_contact_method(session: AsyncSession, user_id: int, method_id: int) -> ContactMethod:
    method = await session.get(ContactMethod, method_id)
    if method is None or method.user_id != user_id:
        raise NotFound(f"contact method {method_id} not found for user {user_id}")
    return method


async def _ensure_address_free(
    session: AsyncSession, user_id: int, method: schemas.ContactMethodCreate | ContactMethod
) -> None:
    existing = await session.scalar(
        select(ContactMethod).where(
            ContactMethod.user_id == user_id,
            ContactMethod.type == method.type,
            ContactMethod.address == method.address,
        )
    )
    if existing is not None and existing is not method:
        raise Conflict(f"user {user_id} already has {method.type} contact {method.address}")


async def create_contact_method(
    session: AsyncSession, principal: Principal, user_id: int, data: schemas.ContactMethodCreate
) -> ContactMethod:
    await get_user(session, user_id)
    principal.require_self_or_admin(user_id)
    await _ensure_address_free(session, user_id, data)
    if data.type is ContactType.WEBHOOK:
        await ensure_url_allowed(session, data.address, field="body.address")
    now = session_clock(session).now()
    method = ContactMethod(
        user_id=user_id,
        type=data.type,
        address=data.address,
        label=data.label,
        verified_at=None if data.type.needs_verification else now,
    )
    session.add(method)
    await session.flush()
    return method


async def update_contact_method(
    session: AsyncSession,
    principal: Principal,
    user_id: int,
    method_id: int,
    data: schemas.ContactMethodUpdate,
) -> ContactMethod:
    method = await get_contact_method(session, user_id, method_id)
    principal.require_self_or_admin(user_id)
    if data.label is not None:
        method.label = data.label
    if data.address is not None:
        try:
            address = schemas.normalize_address(method.type, data.address)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="body.address") from None
        if address != method.address:
            if method.type is ContactType.WEBHOOK:
                await ensure_url_allowed(session, address, field="body.address")
            method.address = address
            await _ensure_address_free(session, user_id, method)
            if method.type.needs_verification:
                # A new number has to be proven again before it is paged.
                method.verified_at = None
                _clear_verification(method)
    await session.flush()
    return method


async def delete_contact_method(
    session: AsyncSession, principal: Principal, user_id: int, method_id: int
) -> None:
    method = await get_contact_method(session, user_id, method_id)
    principal.require_self_or_admin(user_id)
    await session.delete(method)
    await session.flush()


# Why a contact method is off when its owner (or an admin) turned it off, not a provider or STOP.
TURNED_OFF_REASON = "turned off by its owner"


async def set_contact_method_enabled(
    session: AsyncSession, principal: Principal, user_id: int, method_id: int, *, enabled: bool
) -> ContactMethod:
    """Turn a contact method off (it keeps its rules but is not paged) or back on.

    Turning it back on also clears a provider's or a STOP's reason: the owner says the address
    works again. A provider that still refuses it turns it off again at the next page, and the
    ladder falls through to the next rule meanwhile.
    """
    method = await get_contact_method(session, user_id, method_id)
    principal.require_self_or_admin(user_id)
    if enabled and method.disabled_at is not None:
        method.disabled_at = None
        method.disabled_reason = ""
    elif not enabled and method.disabled_at is None:
        method.disabled_at = session_clock(session).now()
        method.disabled_reason = TURNED_OFF_REASON
    await session.flush()
    return method


def _code_hash(method_id: int, code: str) -> str:
    return hashlib.sha256(f"{method_id}:{code}".encode()).hexdigest()


def _clear_verification(method: ContactMethod) -> None:
    method.verification_code_hash = None
    method.verification_expires_at = None
    method.verification_attempts = 0


@dataclass(frozen=True)
class VerificationPolicy:
    code_ttl: timedelta
    max_attempts: int
    resend_interval: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> VerificationPolicy:
        """As the operator configured it (the API's and the pages' contact-method routes)."""
        return cls(
            code_ttl=timedelta(minutes=settings.verification_code_ttl_minutes),
            max_attempts=settings.verification_max_attempts,
            resend_interval=timedelta(seconds=settings.verification_resend_seconds),
        )


@dataclass(frozen=True)
class VerificationMessage:
    """A code on its way to the contact method it verifies."""

    contact_method_id: int
    user_id: int
    contact_type: ContactType
    address: str
    subject: str
    text: str


# Sends a code straight to its contact method. The providers belong to notify, which sits above
# people, so the app factory hands one in (``app.state.send_verification``).
SendVerification = Callable[[VerificationMessage], Awaitable[object]]


async def send_verification(
    session: AsyncSession,
    principal: Principal,
    user_id: int,
    method_id: int,
    *,
    send: SendVerification,
    policy: VerificationPolicy,
) -> ContactMethod:
    method = await get_contact_method(session, user_id, method_id)
    principal.require_self_or_admin(user_id)
    if not method.type.needs_verification:
        raise InvalidInput(f"{method.type} contact methods do not need verification")
    if method.is_verified:
        raise Conflict("this contact method is already verified")
    now = session_clock(session).now()
    if method.verification_sent_at is not None:
        wait = method.verification_sent_at + policy.resend_interval - now
        if wait > timedelta(0):
            raise RateLimited(
                "a code was sent moments ago; wait before asking for another",
                retry_after_seconds=max(1, int(wait.total_seconds()) + 1),
            )
    code = numeric_code(6)
    method.verification_code_hash = _code_hash(method.id, code)
    method.verification_sent_at = now
    method.verification_expires_at = now + policy.code_ttl
    method.verification_attempts = 0
    await session.flush()
    message = VerificationMessage(
        contact_method_id=method.id,
        user_id=user_id,
        contact_type=method.type,
        address=method.address,
        subject="Baton verification code",
        text=f"Your Baton verification code is {code}. It expires in "
        f"{int(policy.code_ttl.total_seconds() // 60)} minutes.",
    )

    async def deliver() -> None:
        await send(message)

    on_commit(session, deliver)
    return method


async def confirm_verification(
    session: AsyncSession,
    principal: Principal,
    user_id: int,
    method_id: int,
    code: str,
    *,
    policy: VerificationPolicy,
) -> ContactMethod:
    method = await get_contact_method(session, user_id, method_id)
    principal.require_self_or_admin(user_id)
    if method.is_verified:
        return method
    now = session_clock(session).now()
    if method.verification_code_hash is None or method.verification_expires_at is None:
        raise InvalidInput("no verification code is pending; ask for a new one", field="body.code")
    if method.verification_expires_at <= now:
        _clear_verification(method)
        raise InvalidInput("the code has expired; ask for a new one", field="body.code")
    if method.verification_attempts >= policy.max_attempts:
        _clear_verification(method)
        raise Forbidden("too many wrong codes; ask for a new one")
    if method.verification_code_hash != _code_hash(method.id, code):
        method.verification_attempts += 1
        left = policy.max_attempts - method.verification_attempts
        if left <= 0:
            _clear_verification(method)
        raise WrongVerificationCode(left)
    method.verified_at = now
    _clear_verification(method)
    await session.flush()
    return method


class WrongVerificationCode(InvalidInput):
    # The failed attempt must count even though the request fails.
    keep_changes = True

    def __init__(self, attempts_left: int) -> None:
        super().__init__(
            "wrong code"
            + (f"; {attempts_left} attempts left" if attempts_left > 0 else "; ask for a new one"),
            field="body.code",
            attempts_left=max(attempts_left, 0),
        )


# -------------------------------------------------------------------------- notification rules


async def list_notification_rules(
    session: AsyncSession, user_id: int
) -> Sequence[NotificationRule]:
    await get_user(session, user_id)
    stmt = (
        select(NotificationRule)
        .where(NotificationRule.user_id == user_id)
        .order_by(NotificationRule.urgency, NotificationRule.delay_minutes, NotificationRule.id)
    )
    return (await session.scalars(stmt)).all()


async def create_notification_rule(
    session: AsyncSession,
    principal: Principal,
    user_id: int,
    data: schemas.NotificationRuleCreate,
) -> NotificationRule:
    await get_user(session, user_id)
    principal.require_self_or_admin(user_id)
    method = await session.get(ContactMethod, data.contact_method_id)
    if method is None or method.user_id != user_id:
        raise InvalidInput(
            f"contact method {data.contact_method_id} does not belong to user {user_id}",
            field="body.contact_method_id",
        )
    duplicate = await session.scalar(
        select(NotificationRule).where(
            NotificationRule.contact_method_id == data.contact_method_id,
            NotificationRule.delay_minutes == data.delay_minutes,
            NotificationRule.urgency == data.urgency,
        )
    )
    if duplicate is not None:
        raise Conflict("an identical notification rule already exists")
    rule = NotificationRule(
        user_id=user_id,
        contact_method_id=data.contact_method_id,
        delay_minutes=data.delay_minutes,
        urgency=data.urgency,
    )
    session.add(rule)
    await session.flush()
    return rule


async def delete_notification_rule(
    session: AsyncSession, principal: Principal, user_id: int, rule_id: int
) -> None:
    rule = await session.get(NotificationRule, rule_id)
    if rule is None or rule.user_id != user_id:
        raise NotFound(f"notification rule {rule_id} not found for user {user_id}")
    principal.require_self_or_admin(user_id)
    await session.delete(rule)
    await session.flush()
