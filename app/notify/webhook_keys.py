"""Webhook signing keys: one random secret per owner, encrypted at rest, rotated with grace.

An owner is a person's webhook contact method, or one URL named by one escalation policy (keyed
by policy and URL, so editing the policy's steps keeps the key). A key is created the first time
it is needed (shown to its owner, or signing a delivery); the migration gave existing webhooks
theirs. Rotation retires the current key after a grace period, during which deliveries carry
both signatures.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.crypto import SecretBox, UndecryptableSecret
from app.escalation.models import EscalationPolicy
from app.incidents.models import Incident
from app.notify.base import SigningKey
from app.notify.channel_models import WebhookSigningKey
from app.notify.models import Notification
from app.people.models import ContactMethod, ContactType

log = logging.getLogger(__name__)

PURPOSE = "webhook-signing-keys"


@dataclass(frozen=True)
class KeyOwner:
    contact_method_id: int | None = None
    escalation_policy_id: int | None = None
    address: str | None = None

    @classmethod
    def method(cls, contact_method_id: int) -> KeyOwner:
        return cls(contact_method_id=contact_method_id)

    @classmethod
    def target(cls, escalation_policy_id: int, address: str) -> KeyOwner:
        return cls(escalation_policy_id=escalation_policy_id, address=address)


class WebhookSigning:
    """What signing needs from the settings: the encryption key and the rotation grace."""

    def __init__(self, secret_key: str, grace: timedelta) -> None:
        self.box = SecretBox(secret_key, PURPOSE)
        self.grace = grace

    def __repr__(self) -> str:
        return f"WebhookSigning(grace={self.grace})"


@dataclass(frozen=True)
class OwnedKeys:
    """An owner's current key (with its secret) and the retiring keys still signing."""

    current: WebhookSigningKey
    secret: str
    retiring: tuple[WebhookSigningKey, ...]

    @property
    def signing_keys(self) -> tuple[SigningKey, ...]:
        return (SigningKey(self.current.key_id, self.secret),)


def new_key_id() -> str:
    return "whk_" + secrets.token_hex(8)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def _valid_rows(
    session: AsyncSession, owner: KeyOwner, now: datetime
) -> list[WebhookSigningKey]:
    if owner.contact_method_id is not None:
        stmt, values = _METHOD_KEYS, {"method_id": owner.contact_method_id}
    else:
        stmt = _TARGET_KEYS
        values = {"policy_id": owner.escalation_policy_id, "address": owner.address}
    return list((await session.scalars(stmt, {**values, "now": now})).all())


def _valid_keys(owner: ColumnElement[bool]) -> Select[tuple[WebhookSigningKey]]:
    return (
        select(WebhookSigningKey)
        .where(
            owner,
            or_(
                WebhookSigningKey.retires_at.is_(None),
                WebhookSigningKey.retires_at > bindparam("now"),
            ),
        )
        .order_by(WebhookSigningKey.created_at.desc(), WebhookSigningKey.id.desc())
    )


# Built once: every dispatcher pass that sends a webhook reads its keys.
_METHOD_KEYS = _valid_keys(WebhookSigningKey.contact_method_id == bindparam("method_id"))
_TARGET_KEYS = _valid_keys(
    (WebhookSigningKey.escalation_policy_id == bindparam("policy_id"))
    & (WebhookSigningKey.address == bindparam("address"))
)


async def _create_current(
    session: AsyncSession, signing: WebhookSigning, owner: KeyOwner, now: datetime
) -> tuple[WebhookSigningKey, str] | None:
    """A fresh current key; None if another transaction created one first (re-read it)."""
    secret = new_secret()
    row = WebhookSigningKey(
        key_id=new_key_id(),
        contact_method_id=owner.contact_method_id,
        escalation_policy_id=owner.escalation_policy_id,
        address=owner.address,
        secret_encrypted=signing.box.encrypt(secret),
        created_at=now,
        retires_at=None,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return None
    return row, secret


async def keys_for(
    session: AsyncSession, signing: WebhookSigning, owner: KeyOwner, now: datetime
) -> OwnedKeys:
    """The owner's keys, creating the first one when there is none yet."""
    for _ in range(2):
        rows = await _valid_rows(session, owner, now)
        current = next((r for r in rows if r.retires_at is None), None)
        retiring = tuple(r for r in rows if r.retires_at is not None)
        if current is not None:
            try:
                return OwnedKeys(current, signing.box.decrypt(current.secret_encrypted), retiring)
            except UndecryptableSecret:
                # Written under another BATON_SECRET_KEY: unusable for good. Retire it and issue
                # a new key rather than stop delivering pages.
                log.error(
                    "webhook signing key does not decrypt; issuing a new one",
                    extra={"key_id": current.key_id},
                )
                current.retires_at = now
                await session.flush()
        created = await _create_current(session, signing, owner, now)
        if created is not None:
            return OwnedKeys(created[0], created[1], retiring)
    raise RuntimeError("could not create a webhook signing key")


async def rotate(
    session: AsyncSession, signing: WebhookSigning, owner: KeyOwner, now: datetime
) -> OwnedKeys:
    """A new current key; the previous one keeps signing for the grace period."""
    previous = await keys_for(session, signing, owner, now)
    previous.current.retires_at = now + signing.grace
    await session.flush()
    created = await _create_current(session, signing, owner, now)
    if created is None:
        raise RuntimeError("a concurrent rotation created the new key first")
    return await keys_for(session, signing, owner, now)


def _decrypt_all(signing: WebhookSigning, keys: OwnedKeys) -> tuple[SigningKey, ...]:
    usable = list(keys.signing_keys)
    for row in keys.retiring:
        try:
            usable.append(SigningKey(row.key_id, signing.box.decrypt(row.secret_encrypted)))
        except UndecryptableSecret:
            log.error("retiring webhook signing key does not decrypt", extra={"key_id": row.key_id})
    return tuple(usable)


def _incident_of(row: Notification) -> int | None:
    # Status updates keep their incident in the context, off the incident's timeline.
    if row.incident_id is not None:
        return row.incident_id
    value = row.context.get("incident_id") if isinstance(row.context, dict) else None
    return value if isinstance(value, int) else None


async def signing_keys_for_notifications(
    session: AsyncSession, signing: WebhookSigning, rows: Sequence[Notification], now: datetime
) -> dict[int, tuple[SigningKey, ...]]:
    """For each webhook notification, the keys that sign it (none when its owner is gone).

    A row names its contact method, or (a status update) its person and URL; a webhook an
    escalation policy names belongs to the policy of the incident's snapshot.
    """
    hooks = [r for r in rows if r.contact_type is ContactType.WEBHOOK]
    personal = {(r.user_id, r.address) for r in hooks if r.contact_method_id is None and r.user_id}
    method_of: dict[tuple[int, str], int] = {}
    if personal:
        for method_id, user_id, address in await session.execute(
            select(ContactMethod.id, ContactMethod.user_id, ContactMethod.address).where(
                ContactMethod.type == ContactType.WEBHOOK,
                ContactMethod.user_id.in_({user for user, _ in personal}),
            )
        ):
            method_of[(user_id, address)] = method_id
    incident_ids = {
        i
        for r in hooks
        if r.contact_method_id is None and not r.user_id
        if (i := _incident_of(r)) is not None
    }
    policy_of: dict[int, int] = {}
    if incident_ids:
        for incident_id, snapshot in await session.execute(
            select(Incident.id, Incident.policy_snapshot).where(Incident.id.in_(incident_ids))
        ):
            if snapshot and snapshot.get("policy_id") is not None:
                policy_of[incident_id] = int(snapshot["policy_id"])
    existing_policies = (
        set(
            await session.scalars(
                select(EscalationPolicy.id).where(EscalationPolicy.id.in_(set(policy_of.values())))
            )
        )
        if policy_of
        else set()
    )
    found: dict[KeyOwner, tuple[SigningKey, ...]] = {}
    result: dict[int, tuple[SigningKey, ...]] = {}
    for row in hooks:
        owner: KeyOwner | None = None
        incident_id = _incident_of(row)
        if row.contact_method_id is not None:
            owner = KeyOwner.method(row.contact_method_id)
        elif row.user_id and (row.user_id, row.address) in method_of:
            owner = KeyOwner.method(method_of[(row.user_id, row.address)])
        elif incident_id is not None and policy_of.get(incident_id) in existing_policies:
            owner = KeyOwner.target(policy_of[incident_id], row.address)
        if owner is None:
            result[row.id] = ()
            continue
        if owner not in found:
            found[owner] = _decrypt_all(signing, await keys_for(session, signing, owner, now))
        result[row.id] = found[owner]
    return result
