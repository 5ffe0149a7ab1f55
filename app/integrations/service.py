"""Integration keys and the inbound gateway: authenticate, rate-limit, then ingest.

Keys are random 32-character secrets; only their SHA-256 is stored. The gateway keeps a short
in-process cache of key lookups so a busy sender costs no extra query per request; revoking a
key takes effect in this process at once and in other replicas within ``CACHE_SECONDS``; the
service's own settings (its policy, urgency rule) reach new incidents within the same delay.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import string
import time
import weakref
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import service as alerts
from app.alerts.grouping import AlertAction, InboundAlert, InboundBatch
from app.catalog import service as catalog
from app.catalog.models import Service
from app.core.auth import Principal
from app.core.crypto import SecretBox
from app.core.db import Database, on_commit, session_clock
from app.core.errors import NotFound, RateLimited, Unauthenticated
from app.core.groupcommit import GroupCommit
from app.core.metrics import ALERTS_RECEIVED, INGEST_BATCH_REQUESTS
from app.core.security import hash_secret
from app.deploys import service as deploys
from app.deploys.models import DeploySource
from app.deploys.schemas import DeployReport
from app.escalation import changes as policy_changes
from app.escalation import service as escalation
from app.escalation.policy import PolicySnapshot
from app.integrations import schemas
from app.integrations.formats.common import sanitized
from app.integrations.models import HeartbeatState, Integration, IntegrationKind

log = logging.getLogger(__name__)

KEY_ALPHABET = string.ascii_lowercase + string.digits
KEY_LENGTH = 32  # the length PagerDuty senders expect of a routing key
CACHE_SECONDS = 10.0
LAST_USED_RESOLUTION = timedelta(minutes=1)
INGEST_ATTEMPTS = 3
# Requests ingested in one transaction at most (group commit).
INGEST_BATCH = 32
# Groups whose incident this process saw open lately (``Gateway._open_groups``).
OPEN_GROUPS_REMEMBERED = 4096
# core.crypto derives one encryption key per purpose from BATON_SECRET_KEY.
WEBHOOK_SECRET_PURPOSE = "github-webhook-secrets"  # noqa: S105 - a name, not a secret


def new_key() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


@lru_cache(maxsize=4)
def webhook_secret_box(secret_key: str) -> SecretBox:
    """What encrypts GitHub webhook secrets (Baton must read them again to check signatures)."""
    return SecretBox(secret_key, WEBHOOK_SECRET_PURPOSE)


# -------------------------------------------------------------------------------- management


async def list_integrations(session: AsyncSession, service_id: int) -> Sequence[Integration]:
    await catalog.get_service(session, service_id)
    stmt = select(Integration).where(Integration.service_id == service_id).order_by(Integration.id)
    return (await session.scalars(stmt)).all()


async def create_integration(
    session: AsyncSession,
    principal: Principal,
    service_id: int,
    data: schemas.IntegrationCreate,
    *,
    secret_box: SecretBox | None = None,
) -> tuple[Integration, str]:
    """A new integration and its key; ``secret_box`` encrypts a GitHub webhook secret."""
    service = await catalog.get_service(session, service_id)
    principal.require_team_write(service.team_id, "this service's integrations")
    key = new_key()
    now = session_clock(session).now()
    integration = Integration(
        service_id=service_id,
        kind=data.kind,
        name=data.name,
        key_hash=hash_secret(key),
        key_prefix=key[:6],
        signing_secret=data.signing_secret,
        signing_timestamp_header=data.signing_timestamp_header,
    )
    if data.webhook_secret is not None:
        assert secret_box is not None, "a webhook secret is stored encrypted"
        integration.webhook_secret_encrypted = secret_box.encrypt(
            data.webhook_secret.get_secret_value()
        )
    if data.kind is IntegrationKind.HEARTBEAT:
        assert data.heartbeat_interval_seconds is not None
        integration.heartbeat_interval_seconds = data.heartbeat_interval_seconds
        integration.heartbeat_grace_seconds = data.heartbeat_grace_seconds or 0
        integration.heartbeat_state = HeartbeatState.WAITING
        # A monitor that never pings is as overdue as one that stopped.
        integration.heartbeat_due_at = now + timedelta(
            seconds=data.heartbeat_interval_seconds + (data.heartbeat_grace_seconds or 0)
        )
    session.add(integration)
    await session.flush()
    return integration, key


async def revoke_integration(
    session: AsyncSession, principal: Principal, service_id: int, integration_id: int
) -> Integration:
    service = await catalog.get_service(session, service_id)
    principal.require_team_write(service.team_id, "this service's integrations")
    integration = await session.get(Integration, integration_id)
    if integration is None or integration.service_id != service_id:
        raise NotFound(f"integration {integration_id} not found for service {service_id}")
    if integration.revoked_at is None:
        integration.revoked_at = session_clock(session).now()
    return integration


# ------------------------------------------------------------------------------------ gateway


@dataclass
class KnownKey:
    integration_id: int
    service_id: int
    kind: IntegrationKind
    name: str
    signing_secret: str | None
    signing_timestamp_header: str | None
    # GitHub's webhook secret as stored (encrypted): decrypted only to check a signature.
    webhook_secret_encrypted: str | None
    revoked: bool
    cached_at: float
    last_used_at: datetime | None
    # The service as loaded by an earlier request (detached, read-only), reused while the key
    # is cached: a senders' burst costs no service lookup per request.
    service: Service | None = None
    # Its escalation policy's snapshot, while no policy changed in this process since
    # (``policy_revision``): a storm's batches cost no policy read each.
    policy: PolicySnapshot | None = None
    policy_revision: int = -1


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float = field(default_factory=time.monotonic)

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def _ingest_keys(item: tuple[KnownKey, InboundBatch]) -> set[Hashable]:
    """The rows an inbound request may lock or create, for it alone: its alerts, and its group
    when it resolves or acknowledges (whether the group's incident is still open then depends
    on the order the requests came in) or notes truncated alerts (it changes the incident
    after the other locks, out of their order)."""
    known, batch = item
    keys: set[Hashable] = {(known.service_id, "alert", a.dedup_key) for a in batch.alerts}
    if batch.group_key is not None and not _joins_only(batch):
        keys.add(_group_of(known, batch.group_key))
    return keys


def _shared_ingest_keys(item: tuple[KnownKey, InboundBatch]) -> set[Hashable]:
    """The group of a request that only triggers: such requests of one group share a
    transaction (the first opens the incident, the rest join it, as one after the other would),
    as a storm's webhooks of a few groups do."""
    known, batch = item
    if batch.group_key is not None and _joins_only(batch):
        return {_group_of(known, batch.group_key)}
    return set()


def _group_of(known: KnownKey, group_key: str) -> tuple[int, str, str]:
    return (known.service_id, "group", group_key)


def _locks_only_its_groups(item: tuple[KnownKey, InboundBatch]) -> bool:
    """A request that only triggers locks incidents only as its groups are looked up, in the
    order every batch takes them in; one that acknowledges or resolves locks its alerts'
    incidents first, out of that order."""
    return _joins_only(item[1])


def _joins_only(batch: InboundBatch) -> bool:
    return not batch.truncated_alerts and all(a.action is AlertAction.TRIGGER for a in batch.alerts)


class Gateway:
    # Every gateway of this process (one per app), for forget_service_everywhere.
    _live: ClassVar[weakref.WeakSet[Gateway]] = weakref.WeakSet()

    def __init__(
        self, db: Database, *, rate_per_second: float, burst: int, max_in_flight: int = 2
    ) -> None:
        self.db = db
        self.rate = rate_per_second
        self.burst = float(burst)
        self._keys: dict[str, KnownKey] = {}
        self._buckets: dict[int, TokenBucket] = {}
        # Groups whose incident was open at this process's last commit that touched them, most
        # recent last. Two batches joining such a group may run at once: the incident's row
        # lock orders them, and the later one's reads and work overlap the earlier one's
        # writes. A group being opened is not here (two transactions would both open one); a
        # group closed elsewhere since costs the later batch a unique-index conflict and a
        # retry one by one, nothing more.
        self._open_groups: collections.OrderedDict[tuple[int, str, str], None] = (
            collections.OrderedDict()
        )
        self._together: GroupCommit[tuple[KnownKey, InboundBatch], alerts.IngestResult] = (
            GroupCommit(
                self._ingest_together,
                keys=_ingest_keys,
                shared_keys=_shared_ingest_keys,
                max_batch=INGEST_BATCH,
                max_in_flight=max_in_flight,
                overlapping=self._open_groups.__contains__,
                overlaps_safely=_locks_only_its_groups,
            )
        )
        Gateway._live.add(self)

    def forget_service(self, service_id: int) -> None:
        """Drop the cached copy of a changed service: the next alert loads it again."""
        for known in self._keys.values():
            if known.service_id == service_id:
                known.service = None
                known.policy = None
        for group in [g for g in self._open_groups if g[0] == service_id]:
            del self._open_groups[group]

    def _note_groups(
        self, items: Sequence[tuple[KnownKey, InboundBatch]], results: Sequence[object]
    ) -> None:
        for (known, batch), result in zip(items, results, strict=True):
            if batch.group_key is None or not isinstance(result, alerts.IngestResult):
                continue
            group = _group_of(known, batch.group_key)
            if result.resolved_incidents or not _joins_only(batch):
                self._open_groups.pop(group, None)
            elif result.triggered:
                self._open_groups[group] = None
                self._open_groups.move_to_end(group)
        while len(self._open_groups) > OPEN_GROUPS_REMEMBERED:
            self._open_groups.popitem(last=False)

    async def authenticate(self, key: str | None, kinds: tuple[IntegrationKind, ...]) -> KnownKey:
        if not key:
            raise Unauthenticated("an integration key is required (bearer token or URL)")
        digest = hash_secret(key)
        known = self._keys.get(digest)
        if known is None or time.monotonic() - known.cached_at > CACHE_SECONDS:
            known = await self._lookup(digest)
        if known is None or known.revoked or known.kind not in kinds:
            raise Unauthenticated("unknown or revoked integration key")
        return known

    async def _lookup(self, digest: str) -> KnownKey | None:
        async with self.db.new_session() as session:
            row = await session.scalar(select(Integration).where(Integration.key_hash == digest))
        if row is None:
            self._keys.pop(digest, None)
            return None
        known = KnownKey(
            integration_id=row.id,
            service_id=row.service_id,
            kind=row.kind,
            name=row.name,
            signing_secret=row.signing_secret,
            signing_timestamp_header=row.signing_timestamp_header,
            webhook_secret_encrypted=row.webhook_secret_encrypted,
            revoked=row.revoked_at is not None,
            cached_at=time.monotonic(),
            last_used_at=row.last_used_at,
        )
        self._keys[digest] = known
        return known

    def forget(self, key_hash: str) -> None:
        self._keys.pop(key_hash, None)

    def check_rate(self, known: KnownKey) -> None:
        bucket = self._buckets.get(known.integration_id)
        if bucket is None:
            bucket = self._buckets[known.integration_id] = TokenBucket(
                self.rate, self.burst, self.burst
            )
        wait = bucket.take()
        if wait:
            raise RateLimited(
                f"integration {known.name!r} sends more than {self.rate:g} requests per second; "
                "slow down and retry",
                retry_after_seconds=max(1, int(wait + 0.999)),
            )

    async def ingest(self, known: KnownKey, batch: InboundBatch) -> alerts.IngestResult:
        """Store the batch durably: the answer comes after the commit that holds it. Requests
        that arrive together share a transaction (group commit); a concurrent insert of the
        same alert by another replica is retried."""
        return await self._together.submit((known, sanitized(batch)))

    async def _ingest_together(
        self, items: Sequence[tuple[KnownKey, InboundBatch]]
    ) -> list[alerts.IngestResult | BaseException]:
        INGEST_BATCH_REQUESTS.observe(len(items))
        outcomes = await self._ingest_batch(items)
        self._note_groups(items, outcomes)
        return outcomes

    async def _ingest_batch(
        self, items: Sequence[tuple[KnownKey, InboundBatch]]
    ) -> list[alerts.IngestResult | BaseException]:
        if len(items) > 1:
            try:
                return list(await self._ingest_in_one_transaction(items))
            except Exception as exc:
                # One of them failed (a replica raced it to an alert, or its service went):
                # the others must not fail with it, so each goes again alone.
                log.info("%d inbound requests go again one by one: %r", len(items), exc)
        outcomes: list[alerts.IngestResult | BaseException] = []
        for known, batch in items:
            try:
                outcomes.append(await self._ingest_alone(known, batch))
            except Exception as exc:  # handed to that request's caller
                outcomes.append(exc)
        return outcomes

    async def _ingest_alone(self, known: KnownKey, batch: InboundBatch) -> alerts.IngestResult:
        for attempt in range(INGEST_ATTEMPTS):
            try:
                (result,) = await self._ingest_in_one_transaction([(known, batch)])
                return result
            except IntegrityError:
                # Another request inserted the same alert or group incident first; the next
                # attempt sees it and updates instead.
                if attempt == INGEST_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _ingest_in_one_transaction(
        self, items: Sequence[tuple[KnownKey, InboundBatch]]
    ) -> list[alerts.IngestResult]:
        async with self.db.transaction() as session:
            deliveries = []
            for known, batch in items:
                service = await self._service(session, known)
                policy = await self._policy(session, known, service)
                deliveries.append(alerts.Delivery(service, known.integration_id, batch, policy))
            results = await alerts.ingest_many(session, deliveries)
            for known, _ in items:
                self._touch(session, known)
        for known, batch in items:
            for action, count in collections.Counter(a.action for a in batch.alerts).items():
                ALERTS_RECEIVED.labels(kind=known.kind, action=action).inc(count)
        return results

    async def _service(self, session: AsyncSession, known: KnownKey) -> Service:
        service = known.service
        if service is None:
            service = await session.get(Service, known.service_id)
            if service is None:
                raise Unauthenticated("unknown or revoked integration key")
            # Shared by concurrent requests: out of this session, so that no session's
            # rollback expires it under another request.
            session.expunge(service)
            known.service = service
        return service

    async def _policy(
        self, session: AsyncSession, known: KnownKey, service: Service
    ) -> PolicySnapshot | None:
        policy_id = service.escalation_policy_id
        if policy_id is None:
            return None
        current = policy_changes.revision()
        cached = known.policy
        if cached is None or cached.policy_id != policy_id or known.policy_revision != current:
            cached = await escalation.load_snapshot(session, policy_id)
            known.policy, known.policy_revision = cached, current
        return cached

    async def record_deploy(
        self, known: KnownKey, report: DeployReport, source: DeploySource
    ) -> deploys.Recorded:
        """Store a deploy the key's service reported, in one transaction. It pages nobody: an
        incident that opens in its watch will name it."""
        async with self.db.transaction() as session:
            service = await session.get(Service, known.service_id)
            if service is None:
                raise Unauthenticated("unknown or revoked integration key")
            recorded = await deploys.record(session, service, report, source)
            self._touch(session, known)
        return recorded

    def _touch(self, session: AsyncSession, known: KnownKey) -> None:
        now = session_clock(session).now()
        if known.last_used_at is None or now - known.last_used_at > LAST_USED_RESOLUTION:
            known.last_used_at = now
            integration_id = known.integration_id

            async def mark() -> None:
                async with self.db.transaction() as s:
                    row = await s.get(Integration, integration_id)
                    if row is not None:
                        row.last_used_at = now

            on_commit(session, mark)


# ---------------------------------------------------------------------------------- heartbeats


def heartbeat_dedup_key(integration_id: int) -> str:
    return f"heartbeat:{integration_id}"


async def record_ping(gateway: Gateway, known: KnownKey) -> HeartbeatState:
    """A ping: the monitor is alive; if it was overdue, its incident resolves."""
    async with gateway.db.transaction() as session:
        row = await session.scalar(
            select(Integration).where(Integration.id == known.integration_id).with_for_update()
        )
        assert row is not None
        now = session_clock(session).now()
        was_overdue = row.heartbeat_state is HeartbeatState.OVERDUE
        # The row is locked and written anyway, so every ping records the key's use.
        row.last_ping_at = row.last_used_at = known.last_used_at = now
        row.heartbeat_state = HeartbeatState.OK
        row.heartbeat_due_at = now + timedelta(
            seconds=(row.heartbeat_interval_seconds or 0) + (row.heartbeat_grace_seconds or 0)
        )
        if was_overdue:
            service = await session.get(Service, row.service_id)
            assert service is not None
            await alerts.ingest(
                session,
                service,
                row.id,
                InboundBatch(
                    alerts=(
                        InboundAlert(
                            dedup_key=heartbeat_dedup_key(row.id),
                            action=AlertAction.RESOLVE,
                            summary=f"Heartbeat {row.name} is back",
                        ),
                    )
                ),
            )
        return row.heartbeat_state


async def mark_overdue_heartbeats(db: Database, *, limit: int = 100) -> int:
    """Open an incident for each monitor whose ping is overdue (safe on several replicas)."""
    async with db.transaction() as session:
        now = session_clock(session).now()
        rows = (
            await session.scalars(
                select(Integration)
                .where(
                    Integration.kind == IntegrationKind.HEARTBEAT,
                    Integration.heartbeat_state.in_([HeartbeatState.OK, HeartbeatState.WAITING]),
                    Integration.heartbeat_due_at <= now,
                    Integration.revoked_at.is_(None),
                )
                .order_by(Integration.heartbeat_due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            row.heartbeat_state = HeartbeatState.OVERDUE
            service = await session.get(Service, row.service_id)
            assert service is not None
            silent = (
                "never pinged"
                if row.last_ping_at is None
                else (f"no ping since {row.last_ping_at.isoformat(timespec='seconds')}")
            )
            await alerts.ingest(
                session,
                service,
                row.id,
                InboundBatch(
                    alerts=(
                        InboundAlert(
                            dedup_key=heartbeat_dedup_key(row.id),
                            action=AlertAction.TRIGGER,
                            summary=f"Heartbeat {row.name} missed: {silent}",
                            severity="critical",
                            source="baton heartbeat",
                            details={
                                "interval_seconds": row.heartbeat_interval_seconds,
                                "grace_seconds": row.heartbeat_grace_seconds,
                            },
                        ),
                    )
                ),
            )
        return len(rows)


def forget_service_everywhere(service_id: int) -> None:
    """``catalog.changes.SERVICE_CHANGED``: every gateway of this process forgets the service."""
    for gateway in list(Gateway._live):
        gateway.forget_service(service_id)
