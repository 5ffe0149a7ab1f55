"""The outbox: notifications are rows written in the same transaction as the change that
causes them, and sent by the dispatcher after commit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import on_commit
from app.incidents.models import Page
from app.notify import messages, replycodes
from app.notify.base import MessageKind
from app.notify.models import Notification, NotificationStatus
from app.people.models import ContactMethod, ContactType, NotificationRule, Urgency, User

# SMS pages get their reply codes ("4a") when these rows are flushed, in the same transaction.
replycodes.install()


@dataclass(frozen=True, slots=True)
class RuleTarget:
    rule_id: int | None
    contact_method_id: int
    contact_type: ContactType
    address: str
    delay_minutes: int


def wake_dispatcher_after_commit(session: AsyncSession) -> None:
    """Ask the in-process dispatcher to look now instead of at its next tick."""
    if session.info.get("dispatcher_wake_registered"):
        return
    wake = session.info.get("wake_dispatcher")
    if wake is not None:
        session.info["dispatcher_wake_registered"] = True
        on_commit(session, wake)


@dataclass(frozen=True, slots=True)
class Ladder:
    """A person's name and the notifications one page of them becomes."""

    name: str
    targets: list[RuleTarget]


async def ladders_for(
    session: AsyncSession, user_ids: Iterable[int], urgency: Urgency
) -> dict[int, Ladder]:
    """Each person's ladder for this urgency, over verified and enabled contact methods only.

    A person with no rules for low urgency is paged by their high-urgency rules, and one with
    no rules at all on every pageable contact method at once: an unconfigured ladder must not
    mean a missed page. One round trip: people, their pageable methods, the rules using them.
    """
    ids = list(set(user_ids))
    if not ids:
        return {}
    pageable = and_(
        ContactMethod.user_id == User.id,
        ContactMethod.verified_at.is_not(None),
        ContactMethod.disabled_at.is_(None),
    )
    rows = (
        await session.execute(
            select(User.id, User.name, ContactMethod, NotificationRule)
            .outerjoin(ContactMethod, pageable)
            .outerjoin(NotificationRule, NotificationRule.contact_method_id == ContactMethod.id)
            .where(User.id.in_(ids))
        )
    ).all()
    names: dict[int, str] = {}
    rules: dict[int, dict[Urgency, list[RuleTarget]]] = defaultdict(lambda: defaultdict(list))
    methods: dict[int, dict[int, ContactMethod]] = defaultdict(dict)
    for user_id, name, method, rule in rows:
        names[user_id] = name
        if method is None:
            continue
        methods[user_id][method.id] = method
        if rule is not None:
            rules[user_id][rule.urgency].append(
                RuleTarget(rule.id, method.id, method.type, method.address, rule.delay_minutes)
            )
    ladders: dict[int, Ladder] = {}
    for user_id, name in names.items():
        chosen = rules[user_id].get(urgency) or rules[user_id].get(Urgency.HIGH)
        if chosen:
            targets = sorted(chosen, key=lambda t: (t.delay_minutes, t.contact_method_id))
        else:
            targets = [
                RuleTarget(None, m.id, m.type, m.address, 0)
                for m in sorted(methods[user_id].values(), key=lambda m: m.id)
            ]
        ladders[user_id] = Ladder(name, targets)
    return ladders


def queue_page_notifications(
    session: AsyncSession,
    *,
    incident_id: int,
    page: Page,
    user_id: int,
    ladder: list[RuleTarget],
    paged_at: datetime,
    context: Mapping[str, Any],
) -> list[Notification]:
    subject = messages.page_subject(context)
    body = messages.page_text(context)
    rows = [
        Notification(
            incident_id=incident_id,
            page=page,
            user_id=user_id,
            contact_method_id=target.contact_method_id,
            rule_id=target.rule_id,
            kind=MessageKind.PAGE,
            contact_type=target.contact_type,
            address=target.address,
            subject=subject,
            body=body,
            context=dict(context),
            status=NotificationStatus.PENDING,
            due_at=paged_at + timedelta(minutes=target.delay_minutes),
            created_at=paged_at,
        )
        for target in ladder
    ]
    session.add_all(rows)
    wake_dispatcher_after_commit(session)
    return rows


def queue_channel_notification(
    session: AsyncSession,
    *,
    incident_id: int,
    contact_type: ContactType,
    address: str,
    now: datetime,
    context: Mapping[str, Any],
) -> Notification:
    """A post to a Slack channel or a webhook named directly by an escalation step."""
    row = Notification(
        incident_id=incident_id,
        kind=MessageKind.PAGE,
        contact_type=contact_type,
        address=address,
        subject=messages.page_subject(context),
        body=messages.page_text(context),
        context=dict(context),
        status=NotificationStatus.PENDING,
        due_at=now,
        created_at=now,
    )
    session.add(row)
    wake_dispatcher_after_commit(session)
    return row


async def cancel_pending(
    session: AsyncSession,
    *,
    incident_id: int,
    now: datetime,
    reason: str,
    page_ids: Iterable[int] | None = None,
) -> int:
    """Stop pages that have not gone out yet (an acknowledgement arrived first)."""
    stmt = (
        update(Notification)
        .where(
            Notification.incident_id == incident_id,
            Notification.status == NotificationStatus.PENDING,
            Notification.kind == MessageKind.PAGE,
        )
        .values(status=NotificationStatus.CANCELLED, finished_at=now, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    if page_ids is not None:
        stmt = stmt.where(Notification.page_id.in_(list(page_ids)))
    result = await session.execute(stmt)
    return result.rowcount or 0
