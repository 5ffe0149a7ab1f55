from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.core.auth import AdminOnly, Reader, Role, Writer
from app.core.pagination import PageQuery
from app.core.schemas import Id, Page
from app.core.session import DbSession, SettingsDep
from app.people import schemas, service
from app.people.masking import address_for
from app.people.models import TeamKind

router = APIRouter(prefix="/api/v1", tags=["people"])


def _send_verification(request: Request) -> service.SendVerification:
    return request.app.state.send_verification


# --------------------------------------------------------------------------------------- users


@router.get("/users", response_model=Page[schemas.UserOut])
async def list_users(
    session: DbSession,
    _: Reader,
    page: PageQuery,
    q: Annotated[str | None, Query(max_length=200, description="Name or e-mail contains")] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    role: Role | None = None,
    team_id: Id | None = None,
) -> Page[schemas.UserOut]:
    users, cursor = await service.list_users(
        session, page, q=q, email=email, role=role, team_id=team_id
    )
    return Page(items=[schemas.UserOut.model_validate(u) for u in users], next_cursor=cursor)


@router.post("/users", response_model=schemas.UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(
    session: DbSession, principal: AdminOnly, body: schemas.UserCreate
) -> schemas.UserOut:
    user = await service.create_user(session, principal, body)
    return schemas.UserOut.model_validate(user)


@router.get("/whoami", response_model=schemas.WhoAmI)
async def whoami(principal: Reader) -> schemas.WhoAmI:
    """Who this token belongs to and what it may do (no database work beyond authentication)."""
    return schemas.WhoAmI(
        user_id=principal.user_id,
        role=principal.role,
        team_ids=sorted(principal.team_ids),
        managed_team_ids=sorted(principal.managed_team_ids),
    )


@router.get("/users/me", response_model=schemas.UserOut)
async def get_me(session: DbSession, principal: Reader) -> schemas.UserOut:
    return schemas.UserOut.model_validate(await service.get_user(session, principal.user_id))


@router.get("/users/{user_id}", response_model=schemas.UserOut)
async def get_user(session: DbSession, _: Reader, user_id: Id) -> schemas.UserOut:
    return schemas.UserOut.model_validate(await service.get_user(session, user_id))


@router.patch("/users/{user_id}", response_model=schemas.UserOut)
async def update_user(
    session: DbSession, principal: Writer, user_id: Id, body: schemas.UserUpdate
) -> schemas.UserOut:
    user = await service.update_user(session, principal, user_id, body)
    return schemas.UserOut.model_validate(user)


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(session: DbSession, principal: AdminOnly, user_id: Id) -> Response:
    await service.delete_user(session, principal, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----------------------------------------------------------------------------- contact methods


@router.get("/users/{user_id}/contact-methods", response_model=list[schemas.ContactMethodOut])
async def list_contact_methods(
    session: DbSession, principal: Reader, user_id: Id
) -> list[schemas.ContactMethodOut]:
    """The owner and admins see the addresses whole, everyone else masked."""
    methods = await service.list_contact_methods(session, user_id)
    return [
        schemas.ContactMethodOut.model_validate(m).model_copy(
            update={"address": address_for(principal, m.user_id, m.type, m.address)}
        )
        for m in methods
    ]


@router.post(
    "/users/{user_id}/contact-methods",
    response_model=schemas.ContactMethodOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_contact_method(
    session: DbSession, principal: Writer, user_id: Id, body: schemas.ContactMethodCreate
) -> schemas.ContactMethodOut:
    method = await service.create_contact_method(session, principal, user_id, body)
    return schemas.ContactMethodOut.model_validate(method)


@router.patch(
    "/users/{user_id}/contact-methods/{method_id}", response_model=schemas.ContactMethodOut
)
async def update_contact_method(
    session: DbSession,
    principal: Writer,
    user_id: Id,
    method_id: Id,
    body: schemas.ContactMethodUpdate,
) -> schemas.ContactMethodOut:
    method = await service.update_contact_method(session, principal, user_id, method_id, body)
    return schemas.ContactMethodOut.model_validate(method)


@router.delete(
    "/users/{user_id}/contact-methods/{method_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_contact_method(
    session: DbSession, principal: Writer, user_id: Id, method_id: Id
) -> Response:
    await service.delete_contact_method(session, principal, user_id, method_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/{user_id}/contact-methods/{method_id}/send-verification",
    response_model=schemas.VerificationSent,
    status_code=status.HTTP_202_ACCEPTED,
)
async def send_verification(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    principal: Writer,
    user_id: Id,
    method_id: Id,
) -> schemas.VerificationSent:
    method = await service.send_verification(
        session,
        principal,
        user_id,
        method_id,
        send=_send_verification(request),
        policy=service.VerificationPolicy.from_settings(settings),
    )
    assert method.verification_expires_at is not None
    return schemas.VerificationSent(
        contact_method_id=method.id,
        expires_at=method.verification_expires_at,
        detail=f"a code is on its way to {method.address}",
    )


@router.post(
    "/users/{user_id}/contact-methods/{method_id}/verify",
    response_model=schemas.ContactMethodOut,
)
async def confirm_verification(
    session: DbSession,
    settings: SettingsDep,
    principal: Writer,
    user_id: Id,
    method_id: Id,
    body: schemas.VerificationConfirm,
) -> schemas.ContactMethodOut:
    method = await service.confirm_verification(
        session,
        principal,
        user_id,
        method_id,
        body.code,
        policy=service.VerificationPolicy.from_settings(settings),
    )
    return schemas.ContactMethodOut.model_validate(method)


# -------------------------------------------------------------------------- notification rules


@router.get("/users/{user_id}/notification-rules", response_model=list[schemas.NotificationRuleOut])
async def list_notification_rules(
    session: DbSession, _: Reader, user_id: Id
) -> list[schemas.NotificationRuleOut]:
    rules = await service.list_notification_rules(session, user_id)
    return [schemas.NotificationRuleOut.model_validate(r) for r in rules]


@router.post(
    "/users/{user_id}/notification-rules",
    response_model=schemas.NotificationRuleOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_notification_rule(
    session: DbSession, principal: Writer, user_id: Id, body: schemas.NotificationRuleCreate
) -> schemas.NotificationRuleOut:
    rule = await service.create_notification_rule(session, principal, user_id, body)
    return schemas.NotificationRuleOut.model_validate(rule)


@router.delete(
    "/users/{user_id}/notification-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_notification_rule(
    session: DbSession, principal: Writer, user_id: Id, rule_id: Id
) -> Response:
    await service.delete_notification_rule(session, principal, user_id, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------------------- teams


@router.get("/teams", response_model=Page[schemas.TeamOut])
async def list_teams(
    session: DbSession,
    _: Reader,
    page: PageQuery,
    q: Annotated[str | None, Query(max_length=100)] = None,
    kind: TeamKind | None = None,
    member_id: Id | None = None,
) -> Page[schemas.TeamOut]:
    teams, cursor = await service.list_teams(session, page, q=q, kind=kind, member_id=member_id)
    return Page(items=[schemas.TeamOut.model_validate(t) for t in teams], next_cursor=cursor)


@router.post("/teams", response_model=schemas.TeamOut, status_code=status.HTTP_201_CREATED)
async def create_team(
    session: DbSession, principal: Writer, body: schemas.TeamCreate
) -> schemas.TeamOut:
    return schemas.TeamOut.model_validate(await service.create_team(session, principal, body))


@router.get("/teams/{team_id}", response_model=schemas.TeamDetail)
async def get_team(session: DbSession, _: Reader, team_id: Id) -> schemas.TeamDetail:
    team = await service.get_team(session, team_id, with_members=True)
    return schemas.TeamDetail.model_validate(
        {**schemas.TeamOut.model_validate(team).model_dump(), "members": team.memberships}
    )


@router.patch("/teams/{team_id}", response_model=schemas.TeamOut)
async def update_team(
    session: DbSession, principal: Writer, team_id: Id, body: schemas.TeamUpdate
) -> schemas.TeamOut:
    team = await service.update_team(session, principal, team_id, body)
    return schemas.TeamOut.model_validate(team)


@router.delete("/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_team(session: DbSession, principal: Writer, team_id: Id) -> Response:
    await service.delete_team(session, principal, team_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/teams/{team_id}/members", response_model=list[schemas.MembershipOut])
async def list_members(session: DbSession, _: Reader, team_id: Id) -> list[schemas.MembershipOut]:
    members = await service.list_members(session, team_id)
    return [schemas.MembershipOut.model_validate(m) for m in members]


@router.post(
    "/teams/{team_id}/members",
    response_model=schemas.MembershipOut,
    status_code=status.HTTP_201_CREATED,
)
async def add_member(
    session: DbSession, principal: Writer, team_id: Id, body: schemas.MembershipCreate
) -> schemas.MembershipOut:
    membership = await service.add_member(session, principal, team_id, body)
    return schemas.MembershipOut.model_validate(membership)


@router.patch("/teams/{team_id}/members/{user_id}", response_model=schemas.MembershipOut)
async def update_member(
    session: DbSession,
    principal: Writer,
    team_id: Id,
    user_id: Id,
    body: schemas.MembershipUpdate,
) -> schemas.MembershipOut:
    membership = await service.update_member(session, principal, team_id, user_id, body)
    return schemas.MembershipOut.model_validate(membership)


@router.delete("/teams/{team_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(
    session: DbSession, principal: Writer, team_id: Id, user_id: Id
) -> Response:
    await service.remove_member(session, principal, team_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -------------------------------------------------------------------------------------- tokens


@router.get("/tokens", response_model=list[schemas.TokenOut])
async def list_tokens(
    session: DbSession,
    principal: Reader,
    user_id: Annotated[Id | None, Query(description="Admins may list another user's")] = None,
) -> list[schemas.TokenOut]:
    tokens = await service.list_tokens(session, principal, user_id)
    return [schemas.TokenOut.model_validate(t) for t in tokens]


@router.post("/tokens", response_model=schemas.TokenCreated, status_code=status.HTTP_201_CREATED)
async def create_token(
    session: DbSession, principal: Writer, body: schemas.TokenCreate
) -> schemas.TokenCreated:
    issued = await service.create_token(session, principal, body)
    return schemas.TokenCreated.model_validate(
        {**schemas.TokenOut.model_validate(issued.token).model_dump(), "token": issued.secret}
    )


@router.delete("/tokens/{token_id}", response_model=schemas.TokenOut)
async def revoke_token(session: DbSession, principal: Writer, token_id: Id) -> schemas.TokenOut:
    token = await service.revoke_token(session, principal, token_id)
    return schemas.TokenOut.model_validate(token)
