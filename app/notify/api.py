"""Channel self-service: send a test, read a notification, a webhook's signing key, status updates.

The routes live under ``/api/v1/users/{user_id}/...`` beside the contact methods they act on.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, status
from pydantic import Field
from sqlalchemy import select

from app.core.auth import Reader, Writer
from app.core.errors import InvalidInput, NotFound
from app.core.schemas import Id, InputModel, OutputModel
from app.core.session import DbSession
from app.escalation import service as escalation
from app.escalation.models import TargetKind
from app.incidents import service as incidents
from app.notify import self_service
from app.notify.channel_models import StatusUpdateSubscription
from app.notify.models import Notification
from app.notify.webhook_keys import KeyOwner, OwnedKeys, WebhookSigning, keys_for, rotate
from app.people import service as people
from app.people.masking import address_for
from app.people.models import ContactMethod, ContactType

router = APIRouter(prefix="/api/v1", tags=["people"])

_METHOD = "/users/{user_id}/contact-methods/{method_id}"


class NotificationOut(OutputModel):
    id: int
    incident_id: int | None
    user_id: int | None
    contact_method_id: int | None
    kind: str
    contact_type: str
    address: str
    subject: str
    status: str
    attempts: int
    due_at: datetime
    provider: str | None
    provider_message_id: str | None
    last_error: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    finished_at: datetime | None


class TestQueued(OutputModel):
    notification_id: int
    contact_method_id: int
    status: str
    detail: str


class RetiringKey(OutputModel):
    key_id: str
    retires_at: datetime | None


class WebhookKey(OutputModel):
    """A webhook's current signing key, shown to its owner only."""

    contact_method_id: int | None = None
    escalation_policy_id: int | None = None
    address: str | None = None
    key_id: str
    signing_key: str
    created_at: datetime
    previous_keys: list[RetiringKey] = Field(
        description="Rotated-out keys that still sign deliveries until retires_at."
    )
    algorithm: str = "HMAC-SHA256"
    signed_message: str = "<X-Baton-Timestamp>.<raw body>"
    signature_header: str = (
        "X-Baton-Signature: sha256=<hex digest>[, sha256=<hex digest of a previous key>]"
    )
    key_id_header: str = "X-Baton-Key-Id: <key_id of the current key>"


class TargetKeyRequest(InputModel):
    address: str = Field(max_length=2048, description="The webhook URL the policy names.")


class StatusUpdates(OutputModel):
    contact_method_id: int
    enabled: bool


class StatusUpdatesSet(InputModel):
    enabled: bool


async def _own_method(
    session: DbSession, principal: Writer, user_id: Id, method_id: Id
) -> ContactMethod:
    return await self_service.own_method(session, principal, user_id, method_id)


@router.post(f"{_METHOD}/test", response_model=TestQueued, status_code=status.HTTP_202_ACCEPTED)
async def send_test(
    session: DbSession, principal: Writer, user_id: Id, method_id: Id
) -> TestQueued:
    """Queue a test message to this contact method; read its outcome at ``notification_id``."""
    sent = await self_service.send_test(session, principal, user_id, method_id)
    row, method = sent.notification, sent.method
    disabled = f"; note: it is disabled ({method.disabled_reason})" if method.disabled_at else ""
    return TestQueued(
        notification_id=row.id,
        contact_method_id=method.id,
        status=row.status,
        detail=f"a test message to {method.address} is queued{disabled}; GET "
        f"/api/v1/users/{user_id}/notifications/{row.id} shows how it went",
    )


@router.get("/users/{user_id}/notifications/{notification_id}", response_model=NotificationOut)
async def get_notification(
    session: DbSession, principal: Reader, user_id: Id, notification_id: Id
) -> NotificationOut:
    row = await self_service.user_notification(session, user_id, notification_id)
    out = NotificationOut.model_validate(row)
    return out.model_copy(
        update={"address": address_for(principal, row.user_id, row.contact_type, row.address)}
    )


def _key_answer(owner: KeyOwner, keys: OwnedKeys) -> WebhookKey:
    return WebhookKey(
        contact_method_id=owner.contact_method_id,
        escalation_policy_id=owner.escalation_policy_id,
        address=owner.address,
        key_id=keys.current.key_id,
        signing_key=keys.secret,
        created_at=keys.current.created_at,
        previous_keys=[
            RetiringKey(key_id=k.key_id, retires_at=k.retires_at) for k in keys.retiring
        ],
    )


async def _method_owner(
    session: DbSession, principal: Writer, user_id: Id, method_id: Id
) -> KeyOwner:
    method = await _own_method(session, principal, user_id, method_id)
    if method.type is not ContactType.WEBHOOK:
        raise InvalidInput("only webhook contact methods have a signing key", code="not_webhook")
    return KeyOwner.method(method.id)


async def _target_owner(
    session: DbSession, principal: Writer, policy_id: Id, address: str
) -> KeyOwner:
    policy = await escalation.get_policy(session, policy_id)
    principal.require_team_write(policy.team_id, "this escalation policy's webhook keys")
    named = {
        t.address for step in policy.steps for t in step.targets if t.kind is TargetKind.WEBHOOK
    }
    if address.strip() not in named:
        raise NotFound(f"escalation policy {policy_id} names no webhook {address.strip()!r}")
    return KeyOwner.target(policy.id, address.strip())


def _signing(request: Request) -> WebhookSigning:
    return request.app.state.webhook_signing


@router.post(f"{_METHOD}/webhook-key", response_model=WebhookKey)
async def reveal_webhook_key(
    request: Request, session: DbSession, principal: Writer, user_id: Id, method_id: Id
) -> WebhookKey:
    """The key that signs this webhook's deliveries (owner or admin; POST so it is never cached
    or prefetched)."""
    owner = await _method_owner(session, principal, user_id, method_id)
    now = request.app.state.clock.now()
    return _key_answer(owner, await keys_for(session, _signing(request), owner, now))


@router.post(f"{_METHOD}/webhook-key/rotate", response_model=WebhookKey)
async def rotate_webhook_key(
    request: Request, session: DbSession, principal: Writer, user_id: Id, method_id: Id
) -> WebhookKey:
    """Issue a new signing key; the previous one keeps signing for the grace period
    (``BATON_WEBHOOK_KEY_GRACE_HOURS``), so the receiver can switch without a gap."""
    owner = await _method_owner(session, principal, user_id, method_id)
    now = request.app.state.clock.now()
    return _key_answer(owner, await rotate(session, _signing(request), owner, now))


@router.post("/escalation-policies/{policy_id}/webhook-key", response_model=WebhookKey)
async def reveal_target_webhook_key(
    request: Request, session: DbSession, principal: Writer, policy_id: Id, body: TargetKeyRequest
) -> WebhookKey:
    """The key that signs deliveries to a webhook this policy names (the owning team's members
    and admins)."""
    owner = await _target_owner(session, principal, policy_id, body.address)
    now = request.app.state.clock.now()
    return _key_answer(owner, await keys_for(session, _signing(request), owner, now))


@router.post("/escalation-policies/{policy_id}/webhook-key/rotate", response_model=WebhookKey)
async def rotate_target_webhook_key(
    request: Request, session: DbSession, principal: Writer, policy_id: Id, body: TargetKeyRequest
) -> WebhookKey:
    """A new signing key for a webhook this policy names; the previous one keeps signing for
    the grace period."""
    owner = await _target_owner(session, principal, policy_id, body.address)
    now = request.app.state.clock.now()
    return _key_answer(owner, await rotate(session, _signing(request), owner, now))


@router.get(f"{_METHOD}/status-updates", response_model=StatusUpdates)
async def get_status_updates(
    session: DbSession, _: Reader, user_id: Id, method_id: Id
) -> StatusUpdates:
    method = await people.get_contact_method(session, user_id, method_id)
    subscribed = await session.get(StatusUpdateSubscription, method.id)
    return StatusUpdates(contact_method_id=method.id, enabled=subscribed is not None)


@router.put(f"{_METHOD}/status-updates", response_model=StatusUpdates)
async def set_status_updates(
    request: Request,
    session: DbSession,
    principal: Writer,
    user_id: Id,
    method_id: Id,
    body: StatusUpdatesSet,
) -> StatusUpdates:
    """A webhook contact method may also receive every change of the incidents it paged."""
    method = await _own_method(session, principal, user_id, method_id)
    if method.type is not ContactType.WEBHOOK:
        raise InvalidInput(
            "status updates are for webhook contact methods; Slack messages are always updated",
            code="not_webhook",
        )
    current = await session.get(StatusUpdateSubscription, method.id)
    if body.enabled and current is None:
        session.add(
            StatusUpdateSubscription(
                contact_method_id=method.id, created_at=request.app.state.clock.now()
            )
        )
    elif not body.enabled and current is not None:
        await session.delete(current)
    await session.flush()
    return StatusUpdates(contact_method_id=method.id, enabled=body.enabled)


class IncidentNotificationOut(OutputModel):
    """A notification of an incident, as its timeline's readers may see it."""

    id: int
    page_id: int | None
    user_id: int | None
    kind: str
    contact_type: str
    address: str
    status: str
    due_at: datetime
    attempts: int
    provider: str | None
    provider_message_id: str | None
    last_error: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    bundle_id: int | None


@router.get(
    "/incidents/{incident_id}/notifications",
    tags=["incidents"],
    response_model=list[IncidentNotificationOut],
)
async def get_notifications(
    session: DbSession, principal: Reader, incident_id: Id
) -> list[IncidentNotificationOut]:
    """Who was paged how; other people's addresses are masked unless the caller is an admin."""
    await incidents.get_incident(session, incident_id)
    rows = await session.scalars(
        select(Notification)
        .where(Notification.incident_id == incident_id)
        .order_by(Notification.id)
    )
    return [
        IncidentNotificationOut.model_validate(n).model_copy(
            update={"address": address_for(principal, n.user_id, n.contact_type, n.address)}
        )
        for n in rows
    ]
