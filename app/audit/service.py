"""The audit trail: who changed which configuration, when, and the fields before and after.

How a change gets recorded
--------------------------
Whoever acts is attached to the session (:func:`act_as`): resolving a principal does it for
the API, Slack, SMS and voice (``people.service.principal_for_user``); ``baton apply``, the
other CLI commands and the start-up bootstrap name themselves. A session without an actor is
the engine's own work and is not audited.

Nobody calls the audit log per operation. Session events do it, for every table listed in
:mod:`app.audit.entities`:

* ``after_flush`` turns each flushed insert, update and delete of an audited row into a pending
  change (column values from the ORM's own history, secrets redacted on the spot);
* ``before_commit`` flushes what is left, merges the pending changes per entity (created then
  edited in one request is one "created" record) and adds the records, so they commit in the
  same transaction as the change;
* a rollback, of the whole transaction or of a savepoint, drops the changes made inside it, so
  a refused request leaves no record.

Bulk ``UPDATE``/``DELETE`` statements bypass the ORM and therefore the log: configuration is
changed through ORM objects only.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Select, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, Session, SessionTransaction
from sqlalchemy.orm import attributes as orm_attributes
from sqlalchemy.orm.interfaces import ONETOMANY

from app.audit.entities import (
    ALWAYS_IGNORED,
    AUDITED_COLLECTIONS,
    AUDITED_PARTS,
    AUDITED_TABLES,
    REDACTED,
    EntityType,
    is_secret_column,
)
from app.audit.models import ActorKind, AuditRecord
from app.core.auth import Principal
from app.core.db import Database, session_clock
from app.core.logging import request_id_var
from app.core.pagination import PageParams, paginate
from app.core.retention import delete_in_batches

log = logging.getLogger(__name__)

ACTOR_KEY = "audit_actor"
PENDING_KEY = "audit_pending"


# ------------------------------------------------------------------------------------ actors


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    user_id: int | None = None
    token_id: int | None = None
    channel: str = "api"
    label: str = ""

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(ActorKind.USER, principal.user_id, principal.token_id, principal.channel)

    @classmethod
    def person(cls, user_id: int, channel: str) -> Actor:
        return cls(ActorKind.USER, user_id, None, channel)

    @classmethod
    def declarative_apply(cls, by: str) -> Actor:
        return cls(ActorKind.APPLY, channel="cli", label=f"declarative apply by {by}")

    @classmethod
    def cli(cls, by: str) -> Actor:
        return cls(ActorKind.CLI, channel="cli", label=f"cli by {by}")

    @classmethod
    def system(cls, what: str) -> Actor:
        return cls(ActorKind.SYSTEM, channel="system", label=what)


def _sync(session: Session | AsyncSession) -> Session:
    return session.sync_session if isinstance(session, AsyncSession) else session


def act_as(session: Session | AsyncSession, actor: Actor) -> None:
    """Attribute the session's changes to ``actor``; the first actor named keeps them."""
    _sync(session).info.setdefault(ACTOR_KEY, actor)


def actor_of(session: Session | AsyncSession) -> Actor | None:
    return _sync(session).info.get(ACTOR_KEY)


# ---------------------------------------------------------------------------- change capture


@dataclass
class _Change:
    entity: str
    entity_id: int | None
    # "create" and "delete" record whole snapshots; "update" the changed fields.
    kind: str
    action: str
    before: dict[str, Any]
    after: dict[str, Any]
    transaction: SessionTransaction | None
    # Secret fields that changed: both sides read "[redacted]", yet the change is real.
    changed_secrets: set[str] = field(default_factory=set)


_MISSING = object()


def _plain(value: Any) -> Any:
    """A JSON value for a column value, with credentials taken out of URLs."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, str):
        return _without_credentials(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


def _without_credentials(text: str) -> str:
    if "@" not in text or "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        if parts.password is None:
            return text
        host = parts.hostname or ""
        netloc = f"{parts.username}:{REDACTED}@{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return REDACTED
    return urlunsplit(parts._replace(netloc=netloc))


def _value_for(name: str, value: Any, public: frozenset[str] = frozenset()) -> Any:
    if is_secret_column(name) and name not in public:
        return None if value is None else REDACTED
    return _plain(value)


def _table(state: InstanceState[Any]) -> str:
    return state.mapper.local_table.name  # type: ignore[attr-defined,no-any-return]


def _columns(
    state: InstanceState[Any],
    ignore: frozenset[str],
    skip: set[str],
    *,
    inserted: bool = False,
    public: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for prop in state.mapper.column_attrs:
        key = prop.key
        if key in ALWAYS_IGNORED or key in ignore or key in skip:
            continue
        value = state.dict.get(key, _MISSING)
        if value is _MISSING and inserted and prop.columns[0].server_default is None:
            value = None  # left unset on a new row: it was inserted as NULL
        if value is not _MISSING:
            values[key] = _value_for(key, value, public)
    return values


def _snapshot(state: InstanceState[Any], ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A row as a part of its parent: columns without ids, plus its loaded child collections."""
    skip = {col.key for col in state.mapper.primary_key}
    values = _columns(state, ignore, skip)
    for prop in state.mapper.relationships:
        if prop.direction is not ONETOMANY:
            continue
        children = state.dict.get(prop.key, _MISSING)
        if children is _MISSING:
            continue
        values[prop.key] = [_child_snapshot(prop, child) for child in children]
    return values


def _child_snapshot(prop: Any, child: Any) -> dict[str, Any]:
    child_state = orm_attributes.instance_state(child)
    back_reference = frozenset(remote.key for _, remote in prop.local_remote_pairs)
    return _snapshot(child_state, back_reference)


def _ordered(prop: Any, items: Iterable[Any]) -> list[Any]:
    keys = [column.key for column in (prop.order_by or ())]
    if not keys:
        return list(items)
    return sorted(
        items,
        key=lambda o: tuple(orm_attributes.instance_state(o).dict.get(k) or 0 for k in keys),
    )


def _collections_now(state: InstanceState[Any], names: Iterable[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        children = state.dict.get(name, _MISSING)
        if children is not _MISSING:
            prop = state.mapper.relationships[name]
            values[name] = [_child_snapshot(prop, child) for child in children]
    return values


def _collection_changes(
    state: InstanceState[Any], names: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in names:
        history = state.attrs[name].history
        if not (history.added or history.deleted):
            continue
        prop = state.mapper.relationships[name]
        previous = _ordered(prop, [*(history.unchanged or ()), *(history.deleted or ())])
        before[name] = [_child_snapshot(prop, child) for child in previous]
        after.update(_collections_now(state, [name]))
    return before, after


def _entity_change(
    state: InstanceState[Any], kind: str, transaction: SessionTransaction | None
) -> _Change | None:
    table = _table(state)
    spec = AUDITED_TABLES[table]
    entity_id = state.dict.get(spec.id_column)
    collections = AUDITED_COLLECTIONS.get(table, ())
    # The id is the record's entity_id; a key that names something else (a user) stays.
    own_id = {"id"}
    if kind == "create":
        after = _columns(
            state, spec.ignore, own_id, inserted=True, public=spec.public
        ) | _collections_now(state, collections)
        return _Change(spec.entity, entity_id, kind, "created", {}, after, transaction)
    if kind == "delete":
        before = _columns(state, spec.ignore, own_id, public=spec.public) | _collections_now(
            state, collections
        )
        return _Change(spec.entity, entity_id, kind, "deleted", before, {}, transaction)
    before, after = _collection_changes(state, collections)
    secrets: set[str] = set()
    action = "updated"
    for prop in state.mapper.column_attrs:
        key = prop.key
        if key in ALWAYS_IGNORED or key in spec.ignore:
            continue
        history = state.attrs[key].history
        if not history.added:
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0]
        if old == new:
            continue
        before[key] = _value_for(key, old, spec.public)
        after[key] = _value_for(key, new, spec.public)
        if is_secret_column(key) and key not in spec.public:
            secrets.add(key)
        for column, transition in spec.transitions:
            if key == column and old is None and new is not None:
                action = transition
    if not before and not after:
        return None
    return _Change(spec.entity, entity_id, kind, action, before, after, transaction, secrets)


def _part_change(
    state: InstanceState[Any], kind: str, transaction: SessionTransaction | None
) -> _Change | None:
    spec = AUDITED_PARTS[_table(state)]
    parent_id = state.dict.get(spec.parent_column)
    snapshot = _snapshot(state, spec.ignore | {spec.parent_column})
    if kind == "create":
        return _Change(
            spec.entity, parent_id, "update", "updated", {}, {spec.field: snapshot}, transaction
        )
    if kind == "update":
        history = state.attrs[spec.closed_by].history
        closed_now = history.added and history.added[0] is not None and not any(history.deleted)
        if not closed_now:
            return None
    return _Change(
        spec.entity, parent_id, "update", "updated", {spec.field: snapshot}, {}, transaction
    )


def _current_transaction(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


@event.listens_for(Session, "after_flush")
def _collect_changes(session: Session, _flush_context: Any) -> None:
    if ACTOR_KEY not in session.info:
        return
    transaction = _current_transaction(session)
    pending: list[_Change] = session.info.setdefault(PENDING_KEY, [])
    for objects, kind in ((session.new, "create"), (session.dirty, "update")):
        for obj in objects:
            pending.extend(_changes_of(orm_attributes.instance_state(obj), kind, transaction))
    for obj in session.deleted:
        pending.extend(_changes_of(orm_attributes.instance_state(obj), "delete", transaction))


def _changes_of(
    state: InstanceState[Any], kind: str, transaction: SessionTransaction | None
) -> list[_Change]:
    table = _table(state)
    change = None
    if table in AUDITED_TABLES:
        change = _entity_change(state, kind, transaction)
    elif table in AUDITED_PARTS:
        change = _part_change(state, kind, transaction)
    return [change] if change is not None else []


def record(
    session: Session | AsyncSession,
    entity: EntityType,
    entity_id: int | None,
    action: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Record something that is not a row change (a whole ``baton apply``) with the rest."""
    sync = _sync(session)
    if ACTOR_KEY not in sync.info:
        raise RuntimeError("audit.record needs an actor on the session; call act_as first")
    sync.info.setdefault(PENDING_KEY, []).append(
        _Change(
            entity,
            entity_id,
            "event",
            action,
            {k: _value_for(k, v) for k, v in (before or {}).items()},
            {k: _value_for(k, v) for k, v in (after or {}).items()},
            _current_transaction(sync),
        )
    )


# -------------------------------------------------------------------------------- merge, write


def _merge(changes: Sequence[_Change]) -> list[_Change]:
    """One change per entity per transaction, in the order entities were first touched."""
    merged: dict[tuple[str, int | None], _Change] = {}
    events: list[_Change] = []
    dropped: set[tuple[str, int | None]] = set()
    for change in changes:
        if change.kind == "event":
            events.append(change)
            continue
        key = (change.entity, change.entity_id)
        current = merged.get(key)
        if current is None:
            if key not in dropped:
                merged[key] = replace(
                    change,
                    before=dict(change.before),
                    after=dict(change.after),
                    changed_secrets=set(change.changed_secrets),
                )
            continue
        if current.kind == "create" and change.kind == "delete":
            # Created and deleted in one transaction: nothing happened.
            del merged[key]
            dropped.add(key)
            continue
        for name, value in change.before.items():
            current.before.setdefault(name, value)
        current.after.update(change.after)
        current.changed_secrets |= change.changed_secrets
        if change.kind == "delete":
            current.kind, current.action = "delete", "deleted"
        elif current.kind == "update" and change.action != "updated":
            current.action = change.action
    return [*merged.values(), *events]


def _shape(change: _Change) -> tuple[dict[str, Any] | None, dict[str, Any] | None] | None:
    if change.kind == "create":
        return None, change.after
    if change.kind == "delete":
        return change.before, None
    if change.kind == "event":
        return change.before or None, change.after or None
    names = [*change.before, *(n for n in change.after if n not in change.before)]
    changed = [
        n
        for n in names
        if change.before.get(n) != change.after.get(n) or n in change.changed_secrets
    ]
    if not changed:
        return None
    return {n: change.before.get(n) for n in changed}, {n: change.after.get(n) for n in changed}


@event.listens_for(Session, "before_commit")
def _write_records(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint is released; its changes commit with the outer transaction
    actor: Actor | None = session.info.get(ACTOR_KEY)
    if actor is None:
        return
    # Changes made since the last flush are flushed now, so they are captured too.
    session.flush()
    pending: list[_Change] = session.info.pop(PENDING_KEY, [])
    if not pending:
        return
    now = session_clock(session).now()
    request_id = request_id_var.get()
    for change in _merge(pending):
        shaped = _shape(change)
        if shaped is None:
            continue
        before, after = shaped
        session.add(
            AuditRecord(
                at=now,
                actor_kind=actor.kind,
                actor_user_id=actor.user_id,
                actor_token_id=actor.token_id,
                actor_label=actor.label,
                channel=actor.channel,
                request_id=request_id,
                entity_type=str(change.entity),
                entity_id=change.entity_id,
                action=change.action,
                before=before,
                after=after,
            )
        )


def _inside(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: list[_Change] | None = session.info.get(PENDING_KEY)
    if pending:
        session.info[PENDING_KEY] = [
            c for c in pending if not _inside(c.transaction, previous_transaction)
        ]


@event.listens_for(Session, "after_commit")
def _forget_committed(session: Session) -> None:
    if session.get_nested_transaction() is None:
        session.info.pop(PENDING_KEY, None)


# ------------------------------------------------------------------------------ reading, pruning


@dataclass(frozen=True)
class AuditFilter:
    actor_user_id: int | None = None
    actor_kind: ActorKind | None = None
    entity_type: EntityType | None = None
    entity_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def filtered(stmt: Select[Any], criteria: AuditFilter) -> Select[Any]:
    if criteria.actor_user_id is not None:
        stmt = stmt.where(AuditRecord.actor_user_id == criteria.actor_user_id)
    if criteria.actor_kind is not None:
        stmt = stmt.where(AuditRecord.actor_kind == criteria.actor_kind)
    if criteria.entity_type is not None:
        stmt = stmt.where(AuditRecord.entity_type == criteria.entity_type.value)
    if criteria.entity_id is not None:
        stmt = stmt.where(AuditRecord.entity_id == criteria.entity_id)
    if criteria.action is not None:
        stmt = stmt.where(AuditRecord.action == criteria.action)
    if criteria.since is not None:
        stmt = stmt.where(AuditRecord.at >= criteria.since)
    if criteria.until is not None:
        stmt = stmt.where(AuditRecord.at < criteria.until)
    return stmt


async def list_records(
    session: AsyncSession, criteria: AuditFilter, page: PageParams
) -> tuple[Sequence[AuditRecord], str | None]:
    """Newest first."""
    stmt = filtered(select(AuditRecord), criteria)
    return await paginate(session, stmt, AuditRecord.id, page, descending=True)


PRUNE_BATCH = 1000


async def prune(db: Database, retention: timedelta, *, batch: int = PRUNE_BATCH) -> int:
    """Delete records older than ``retention``, a batch per transaction, so a long backlog
    never holds a lock for long. Any replica may run it: deleting twice deletes nothing."""
    cutoff = db.clock.now() - retention
    deleted = await delete_in_batches(db, AuditRecord, AuditRecord.at < cutoff, batch=batch)
    if deleted:
        log.info("audit records pruned", extra={"deleted": deleted, "before": cutoff.isoformat()})
    return deleted
