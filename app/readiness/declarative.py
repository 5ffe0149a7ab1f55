"""``baton apply`` for readiness: the organisation's launch checklist, teams' additions, the
handback criteria and sign-offs recorded in a reviewed file.

Like the API, every checklist in force must sum to 100 and a sign-off must be by someone in the
owner team or the Ops team; unlike it, no rights are checked per person: the file was reviewed,
and the audit log names the apply. The section only ever sets: a part left out of the file
(the checklist, a team, the thresholds, a sign-off) keeps what is there, and ``--prune``
removes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Service
from app.catalog.service import get_service_by_name
from app.core.db import session_clock
from app.core.declarative import Action, ApplyReport, ConfigFileError, UnknownReference
from app.core.schemas import Day, EmailAddress
from app.people.models import Team, User
from app.people.service import get_team_by_name
from app.readiness import checklist
from app.readiness import service as readiness
from app.readiness.checklist import Item, ItemKind
from app.readiness.models import ReadinessSettings, SignOff, TeamReadinessItems
from app.readiness.schemas import ItemIn, ItemKey, ThresholdsIn

SECTION = "readiness"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SignOffSpec(_Strict):
    by: EmailAddress
    on: Day
    comment: str = Field(default="", max_length=2000)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted key `on` as true; the file meant the date.
        if isinstance(value, dict) and True in value and "on" not in value:
            value = {("on" if k is True else k): v for k, v in value.items()}
        return value


def _items(specs: Sequence[ItemIn]) -> tuple[Item, ...]:
    return tuple(spec.to_item() for spec in specs)


class ReadinessSpec(_Strict):
    checklist: list[ItemIn] | None = Field(
        default=None,
        max_length=checklist.MAX_ITEMS,
        description="The organisation's items (left out: as it is, Baton's default at first).",
    )
    teams: dict[str, list[ItemIn]] = Field(
        default_factory=dict,
        description="A team's additions; an item with an organisation item's key replaces it.",
    )
    thresholds: ThresholdsIn | None = Field(
        default=None, description="The handback criteria; those left out take Baton's default."
    )
    sign_offs: dict[str, dict[ItemKey, SignOffSpec]] = Field(
        default_factory=dict, description="Service name -> item key -> who signed, when."
    )

    @field_validator("checklist")
    @classmethod
    def _whole_checklist(cls, value: list[ItemIn] | None) -> list[ItemIn] | None:
        if value is not None and (found := checklist.problems(_items(value))):
            raise ValueError("; ".join(found))
        return value

    @field_validator("teams")
    @classmethod
    def _team_additions(cls, value: dict[str, list[ItemIn]]) -> dict[str, list[ItemIn]]:
        names = [name.lower() for name in value]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"teams listed twice: {', '.join(dupes)}")
        found = [
            f"{name}: {problem}"
            for name, items in value.items()
            for problem in checklist.problems(_items(items), whole=False)
        ]
        if found:
            raise ValueError("; ".join(found))
        return value

    @field_validator("sign_offs")
    @classmethod
    def _services_once(
        cls, value: dict[str, dict[str, SignOffSpec]]
    ) -> dict[str, dict[str, SignOffSpec]]:
        names = [name.lower() for name in value]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"services listed twice: {', '.join(dupes)}")
        return value


class ReadinessSection(_Strict):
    readiness: ReadinessSpec | None = None


def _refuse(found: list[str]) -> None:
    if found:
        raise ConfigFileError("invalid readiness configuration\n" + "\n".join(found))


async def apply_readiness(
    session: AsyncSession, section: ReadinessSection, report: ApplyReport, *, prune: bool
) -> None:
    """Everything is checked before anything is written, so a refused file changes nothing
    even before the transaction is rolled back."""
    spec = section.readiness
    if spec is None or prune:
        return
    settings = await session.get(ReadinessSettings, readiness.SETTINGS_ROW)
    stored_org = (
        tuple(readiness.items_from_json(settings.items, "items"))
        if settings is not None and settings.items is not None
        else None
    )
    organisation = (
        _items(spec.checklist)
        if spec.checklist is not None
        else (stored_org if stored_org is not None else checklist.DEFAULT_ITEMS)
    )
    teams = await _teams(session, spec.teams)
    additions = await _stored_additions(session)
    for team, items in teams.values():
        additions[team.id] = (team.name, items)
    _refuse(_merged_problems(organisation, additions, in_file={t.id for t, _ in teams.values()}))
    signed = await _sign_offs(session, spec.sign_offs, organisation, additions)

    now = session_clock(session).now()
    first_settings = settings is None
    if settings is None and (spec.checklist is not None or spec.thresholds is not None):
        settings = ReadinessSettings(
            id=readiness.SETTINGS_ROW, items=None, thresholds={}, updated_at=now
        )
        session.add(settings)
    if spec.checklist is not None and settings is not None:
        if stored_org == organisation:
            report.add(Action.UNCHANGED, "readiness_checklist", "organisation")
        else:
            settings.items = [ItemIn.from_item(i).model_dump() for i in organisation]
            settings.updated_at = now
            action = Action.CREATE if stored_org is None else Action.UPDATE
            report.add(action, "readiness_checklist", "organisation")
    if spec.thresholds is not None and settings is not None:
        wanted = spec.thresholds.model_dump(exclude_unset=True)
        before = dict(settings.thresholds or {})
        if before == wanted:
            report.add(Action.UNCHANGED, "readiness_thresholds", "organisation")
        else:
            changed = tuple(sorted(k for k in {*before, *wanted} if before.get(k) != wanted.get(k)))
            settings.thresholds = wanted
            settings.updated_at = now
            if first_settings:
                report.add(Action.CREATE, "readiness_thresholds", "organisation")
            else:
                report.add(Action.UPDATE, "readiness_thresholds", "organisation", changed)
    for team, items in teams.values():
        await _write_additions(session, team, items, report, now)
    for service, key, signer, sign in signed:
        await _write_sign_off(session, service, key, signer, sign, report, now)
    await session.flush()


async def _teams(
    session: AsyncSession, specs: Mapping[str, list[ItemIn]]
) -> dict[str, tuple[Team, tuple[Item, ...]]]:
    found: dict[str, tuple[Team, tuple[Item, ...]]] = {}
    for name, items in specs.items():
        team = await get_team_by_name(session, name)
        if team is None:
            raise UnknownReference(f"{SECTION}.teams.{name}: team {name} is unknown")
        found[name] = (team, _items(items))
    return found


async def _stored_additions(session: AsyncSession) -> dict[int, tuple[str, tuple[Item, ...]]]:
    stored: dict[int, tuple[str, tuple[Item, ...]]] = {}
    for row in await session.scalars(select(TeamReadinessItems)):
        team = await session.get(Team, row.team_id)
        name = team.name if team is not None else str(row.team_id)
        stored[row.team_id] = (name, tuple(readiness.items_from_json(row.items, "items")))
    return stored


def _merged_problems(
    organisation: tuple[Item, ...],
    additions: Mapping[int, tuple[str, tuple[Item, ...]]],
    *,
    in_file: set[int],
) -> list[str]:
    found = []
    for team_id, (name, items) in additions.items():
        where = (
            f"{SECTION}.teams.{name}"
            if team_id in in_file
            else f"{SECTION}.checklist (with team {name}'s additions, set outside the file)"
        )
        found += [
            f"  {where}: {p}" for p in checklist.problems(checklist.merge(organisation, items))
        ]
    return found


async def _sign_offs(
    session: AsyncSession,
    specs: Mapping[str, Mapping[str, SignOffSpec]],
    organisation: tuple[Item, ...],
    additions: Mapping[int, tuple[str, tuple[Item, ...]]],
) -> list[tuple[Service, str, User, SignOffSpec]]:
    """Each sign-off checked against the checklist the service will have once the file is in."""
    checked = []
    found: list[str] = []
    for service_name, items in specs.items():
        service = await get_service_by_name(session, service_name)
        if service is None:
            raise UnknownReference(
                f"{SECTION}.sign_offs.{service_name}: service {service_name} is unknown"
            )
        team_items = additions.get(service.team_id, ("", ()))[1]
        merged = checklist.merge(organisation, team_items)
        signable = {i.key: i for i in merged if i.kind is ItemKind.SIGN_OFF}
        for key, sign in items.items():
            where = f"{SECTION}.sign_offs.{service_name}.{key}"
            item = signable.get(key)
            if item is None:
                found.append(
                    f"  {where}: not a sign-off item of {service.name}'s checklist "
                    f"(sign-off items: {', '.join(signable) or 'none'})"
                )
                continue
            signer = await session.scalar(select(User).where(User.email == sign.by))
            if signer is None:
                raise UnknownReference(f"{where}: {sign.by} is not a user")
            if not await readiness.may_sign_off(session, service, signer.id):
                found.append(
                    f"  {where}: {sign.by} is in neither the owner team nor the Ops team, so "
                    f"cannot sign off {item.title!r}"
                )
                continue
            checked.append((service, key, signer, sign))
    _refuse(found)
    return checked


async def _write_additions(
    session: AsyncSession,
    team: Team,
    items: tuple[Item, ...],
    report: ApplyReport,
    now: datetime,
) -> None:
    row = await session.get(TeamReadinessItems, team.id)
    before = tuple(readiness.items_from_json(row.items, "items")) if row is not None else ()
    key = f"team {team.name}"
    if before == items:
        report.add(Action.UNCHANGED, "readiness_checklist", key)
        return
    if not items and row is not None:
        await session.delete(row)
        report.add(Action.UPDATE, "readiness_checklist", key, ("no additions",))
        return
    stored = [ItemIn.from_item(i).model_dump() for i in items]
    if row is None:
        session.add(TeamReadinessItems(team_id=team.id, items=stored, updated_at=now))
        report.add(Action.CREATE, "readiness_checklist", key)
    else:
        row.items = stored
        row.updated_at = now
        report.add(Action.UPDATE, "readiness_checklist", key, ("items",))


async def _write_sign_off(
    session: AsyncSession,
    service: Service,
    key: str,
    signer: User,
    sign: SignOffSpec,
    report: ApplyReport,
    now: datetime,
) -> None:
    label = f"{service.name} {key}"
    row = await session.scalar(
        select(SignOff).where(SignOff.service_id == service.id, SignOff.item_key == key)
    )
    wanted: dict[str, object] = {
        "signed_by_id": signer.id,
        "signed_on": sign.on,
        "comment": sign.comment,
    }
    if row is None:
        session.add(
            SignOff(
                service_id=service.id,
                item_key=key,
                signed_by_name=signer.name,
                created_at=now,
                **wanted,
            )
        )
        report.add(Action.CREATE, "sign_off", label)
        return
    changed = tuple(name for name, value in wanted.items() if getattr(row, name) != value)
    if not changed:
        report.add(Action.UNCHANGED, "sign_off", label)
        return
    for name in changed:
        setattr(row, name, wanted[name])
    row.signed_by_name = signer.name
    row.created_at = now
    report.add(Action.UPDATE, "sign_off", label, changed)
