"""``baton apply`` for people: users with their contact methods and rules, teams (with their
weekly digest and hand-over channel) and members."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.auth import Role, TeamRole
from app.core.db import session_clock
from app.core.declarative import Action, ApplyReport, UnknownReference, assign
from app.core.schemas import EmailAddress, Name, TimeZoneName
from app.people.models import (
    ContactMethod,
    ContactType,
    NotificationRule,
    Team,
    TeamKind,
    TeamMembership,
    Urgency,
    User,
)
from app.people.schemas import (
    DigestChannel,
    DigestEmail,
    DigestTime,
    DigestWeekday,
    TeamName,
    normalize_address,
)
from app.people.service import get_team_by_name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactMethodSpec(_Strict):
    type: ContactType
    address: str
    label: str = Field(default="", max_length=100)
    # Config reviewed in git may vouch for a number; the person can still verify it themselves.
    verified: bool = False

    @model_validator(mode="after")
    def _normalize(self) -> Self:
        self.address = normalize_address(self.type, self.address)
        return self


class NotificationRuleSpec(_Strict):
    contact: str = Field(
        description="The contact method: its label, its type (if the user has one of that "
        "type) or type:address."
    )
    after_minutes: int = Field(ge=0, le=1440)
    urgency: Urgency = Urgency.HIGH


class UserSpec(_Strict):
    email: EmailAddress
    name: Name
    time_zone: TimeZoneName = "UTC"
    role: Role = Role.MEMBER
    contact_methods: list[ContactMethodSpec] = Field(default_factory=list)
    notification_rules: list[NotificationRuleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules_name_known_contacts(self) -> Self:
        for index, rule in enumerate(self.notification_rules):
            matches = resolve_contact(self.contact_methods, rule.contact)
            if len(matches) != 1:
                problem = "matches no contact method" if not matches else "is ambiguous"
                raise ValueError(
                    f"notification_rules[{index}].contact {rule.contact!r} {problem}; use a "
                    "label, a type the user has once, or type:address"
                )
        return self


def resolve_contact(methods: list[ContactMethodSpec], ref: str) -> list[ContactMethodSpec]:
    by_label = [m for m in methods if m.label and m.label == ref]
    if by_label:
        return by_label
    kind, _, address = ref.partition(":")
    if address:
        try:
            normalized = normalize_address(ContactType(kind), address)
        except ValueError:
            return []
        return [m for m in methods if m.type == kind and m.address == normalized]
    return [m for m in methods if m.type == kind]


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MemberSpec(_Strict):
    email: EmailAddress
    role: TeamRole = TeamRole.MEMBER


class TeamSpec(_Strict):
    name: TeamName
    kind: TeamKind
    description: str = Field(default="", max_length=2000)
    members: list[MemberSpec] = Field(
        default_factory=list, description="E-mail addresses, or {email, role} objects."
    )
    time_zone: TimeZoneName = "UTC"
    digest_weekday: DigestWeekday = Field(default=0, description="0 (mon) to 6 (sun), or mon..sun.")
    digest_time: DigestTime = "09:00"
    digest_slack_channel: DigestChannel = ""
    digest_email: DigestEmail = ""
    digest_enabled: bool = True
    # Hand-over and handback posts (empty: the digest's channel).
    slack_channel: DigestChannel = ""

    @field_validator("digest_weekday", mode="before")
    @classmethod
    def _weekday_name(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in _WEEKDAYS:
            return _WEEKDAYS.index(value.strip().lower())
        return value

    @field_validator("digest_time", mode="before")
    @classmethod
    def _yaml_sexagesimal(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 17:30 as the number 1050 (base 60); the file meant a time.
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            return f"{value // 60:02d}:{value % 60:02d}"
        return value

    @field_validator("members", mode="before")
    @classmethod
    def _emails_as_members(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"email": m} if isinstance(m, str) else m for m in value]
        return value


class PeopleSection(_Strict):
    users: list[UserSpec] = Field(default_factory=list)
    teams: list[TeamSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_and_known(self) -> Self:
        emails = [u.email for u in self.users]
        duplicates = {e for e in emails if emails.count(e) > 1}
        if duplicates:
            raise ValueError(f"users listed twice: {', '.join(sorted(duplicates))}")
        names = [t.name.lower() for t in self.teams]
        dup_teams = {n for n in names if names.count(n) > 1}
        if dup_teams:
            raise ValueError(f"teams listed twice: {', '.join(sorted(dup_teams))}")
        return self


async def apply_people(
    session: AsyncSession, section: PeopleSection, report: ApplyReport, *, prune: bool
) -> dict[str, User]:
    users = {
        spec.email: await _apply_user(session, spec, report, prune=prune) for spec in section.users
    }
    for spec in section.teams:
        await _apply_team(session, spec, users, report, prune=prune)
    await _stale_users(session, set(users), report, prune=prune)
    await _stale_teams(session, {t.name.lower() for t in section.teams}, report, prune=prune)
    return users


async def _apply_user(
    session: AsyncSession, spec: UserSpec, report: ApplyReport, *, prune: bool
) -> User:
    user = await session.scalar(
        select(User)
        .where(User.email == spec.email)
        .options(selectinload(User.contact_methods), selectinload(User.notification_rules))
    )
    values = {
        "name": spec.name,
        "time_zone": spec.time_zone,
        "role": spec.role,
        "config_managed": True,
    }
    if user is None:
        user = User(email=spec.email, **values)
        user.contact_methods = []
        user.notification_rules = []
        session.add(user)
        await session.flush()
        report.add(Action.CREATE, "user", spec.email)
    else:
        changed = assign(user, values)
        report.add(Action.UPDATE if changed else Action.UNCHANGED, "user", spec.email, changed)
    methods = await _apply_contact_methods(session, user, spec, report, prune=prune)
    await _apply_rules(session, user, spec, methods, report, prune=prune)
    return user


async def _apply_contact_methods(
    session: AsyncSession, user: User, spec: UserSpec, report: ApplyReport, *, prune: bool
) -> dict[tuple[str, str], ContactMethod]:
    now = session_clock(session).now()
    existing = {(m.type.value, m.address): m for m in user.contact_methods}
    wanted: dict[tuple[str, str], ContactMethod] = {}
    for cm in spec.contact_methods:
        key = (cm.type.value, cm.address)
        label = f"{spec.email} {cm.type}:{cm.address}"
        method = existing.get(key)
        verified_at = now if (cm.verified or not cm.type.needs_verification) else None
        if method is None:
            method = ContactMethod(
                user_id=user.id,
                type=cm.type,
                address=cm.address,
                label=cm.label,
                verified_at=verified_at,
                config_managed=True,
            )
            session.add(method)
            user.contact_methods.append(method)
            report.add(Action.CREATE, "contact_method", label)
        else:
            changed = assign(method, {"label": cm.label, "config_managed": True})
            if verified_at is not None and method.verified_at is None:
                method.verified_at = verified_at
                changed += ("verified",)
            report.add(
                Action.UPDATE if changed else Action.UNCHANGED, "contact_method", label, changed
            )
        wanted[key] = method
    for key, method in existing.items():
        if key not in wanted and method.config_managed:
            await _stale(
                session,
                method,
                "contact_method",
                f"{spec.email} {key[0]}:{key[1]}",
                report,
                prune=prune,
            )
    await session.flush()
    return wanted


async def _apply_rules(
    session: AsyncSession,
    user: User,
    spec: UserSpec,
    methods: dict[tuple[str, str], ContactMethod],
    report: ApplyReport,
    *,
    prune: bool,
) -> None:
    existing = {
        (r.contact_method_id, r.delay_minutes, r.urgency): r for r in user.notification_rules
    }
    wanted = set()
    for rule in spec.notification_rules:
        (cm_spec,) = resolve_contact(spec.contact_methods, rule.contact)
        method = methods[(cm_spec.type.value, cm_spec.address)]
        key = (method.id, rule.after_minutes, rule.urgency)
        wanted.add(key)
        label = f"{spec.email} {cm_spec.type} after {rule.after_minutes}m ({rule.urgency})"
        current = existing.get(key)
        if current is None:
            new_rule = NotificationRule(
                user_id=user.id,
                contact_method_id=method.id,
                delay_minutes=rule.after_minutes,
                urgency=rule.urgency,
                config_managed=True,
            )
            session.add(new_rule)
            user.notification_rules.append(new_rule)
            report.add(Action.CREATE, "notification_rule", label)
        else:
            changed = assign(current, {"config_managed": True})
            report.add(Action.UPDATE if changed else Action.UNCHANGED, "notification_rule", label)
    for key, rule in existing.items():
        if key not in wanted and rule.config_managed:
            await _stale(
                session,
                rule,
                "notification_rule",
                f"{spec.email} rule {rule.id} after {rule.delay_minutes}m",
                report,
                prune=prune,
            )
    await session.flush()


async def _apply_team(
    session: AsyncSession,
    spec: TeamSpec,
    users: dict[str, User],
    report: ApplyReport,
    *,
    prune: bool,
) -> None:
    team = await get_team_by_name(session, spec.name)
    values = {
        "name": spec.name,
        "kind": spec.kind,
        "description": spec.description,
        "time_zone": spec.time_zone,
        "digest_weekday": spec.digest_weekday,
        "digest_time": spec.digest_time,
        "digest_slack_channel": spec.digest_slack_channel,
        "digest_email": spec.digest_email,
        "digest_enabled": spec.digest_enabled,
        "slack_channel": spec.slack_channel,
        "config_managed": True,
    }
    if team is None:
        team = Team(**values)
        session.add(team)
        await session.flush()
        report.add(Action.CREATE, "team", spec.name)
    else:
        changed = assign(team, values)
        report.add(Action.UPDATE if changed else Action.UNCHANGED, "team", spec.name, changed)
    memberships = {
        m.user_id: m
        for m in await session.scalars(
            select(TeamMembership).where(TeamMembership.team_id == team.id)
        )
    }
    wanted: set[int] = set()
    for member in spec.members:
        user = users.get(member.email) or await session.scalar(
            select(User).where(User.email == member.email)
        )
        if user is None:
            raise UnknownReference(f"team {spec.name}: member {member.email} is not a user")
        wanted.add(user.id)
        label = f"{spec.name} {member.email}"
        membership = memberships.get(user.id)
        if membership is None:
            session.add(
                TeamMembership(
                    team_id=team.id, user_id=user.id, role=member.role, config_managed=True
                )
            )
            report.add(Action.CREATE, "membership", label)
        else:
            changed = assign(membership, {"role": member.role, "config_managed": True})
            report.add(Action.UPDATE if changed else Action.UNCHANGED, "membership", label, changed)
    for user_id, membership in memberships.items():
        if user_id not in wanted and membership.config_managed:
            await _stale(
                session,
                membership,
                "membership",
                f"{spec.name} user {user_id}",
                report,
                prune=prune,
            )
    await session.flush()


async def _stale_users(
    session: AsyncSession, emails: set[str], report: ApplyReport, *, prune: bool
) -> None:
    for user in await session.scalars(select(User).where(User.config_managed.is_(True))):
        if user.email not in emails:
            await _stale(session, user, "user", user.email, report, prune=prune)


async def _stale_teams(
    session: AsyncSession, names: set[str], report: ApplyReport, *, prune: bool
) -> None:
    for team in await session.scalars(select(Team).where(Team.config_managed.is_(True))):
        if team.name.lower() not in names:
            await _stale(session, team, "team", team.name, report, prune=prune)


async def _stale(
    session: AsyncSession, obj: object, kind: str, key: str, report: ApplyReport, *, prune: bool
) -> None:
    if not prune:
        report.add(Action.STALE, kind, key)
        return
    try:
        async with session.begin_nested():
            await session.delete(obj)
            await session.flush()
    except IntegrityError:
        raise UnknownReference(
            f"{kind} {key} is still used (a schedule, policy or incident made outside the file "
            "refers to it); remove that first"
        ) from None
    report.add(Action.DELETE, kind, key)
