"""The dispatcher: claims due notifications from the outbox and hands them to providers.

Claiming marks a notification ``sending`` with a deadline, in a short transaction; the provider
call happens outside any transaction; the result is recorded right after (the sends of one pass
that went out share their recording transactions). A notification still ``sending`` past its
deadline had its sender die mid-call: its outcome is unknown. Webhooks are sent again (receivers
deduplicate); other channels are not repeated while the person's next rule or the incident's
next step can cover, and are sent once more, marked as a possible duplicate, when nothing else
would reach anyone (docs/engine.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database
from app.core.metrics import NOTIFICATION_LAG_SECONDS, NOTIFICATIONS
from app.core.ratelimit import RateLimit
from app.incidents import events, timeline
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident
from app.incidents.service import bring_escalation_forward, escalation_can_come_forward
from app.notify import messages
from app.notify.base import (
    DeliveryResult,
    DeliveryStatus,
    MessageKind,
    Notifier,
    OutboundMessage,
    SigningKey,
)
from app.notify.models import Notification, NotificationStatus, SendPriority
from app.notify.outbox import wake_dispatcher_after_commit
from app.notify.throttle import SendsInWindow, plan_in_window
from app.notify.webhook_keys import WebhookSigning, signing_keys_for_notifications
from app.people.masking import mask_address
from app.people.models import ContactMethod, ContactType

log = logging.getLogger(__name__)

# Pages are rate limited per contact method (and folded into summaries in a storm); reminders,
# confirmations, verification codes and tests are rare and always go on their own.
THROTTLED_KINDS = (MessageKind.PAGE,)
PAGING_KINDS = (MessageKind.PAGE, MessageKind.SUMMARY)
# A pass looks at this many due rows per one it sends, to pick the least recently paged people
# among them (a bound on how far down the queue it reorders).
CANDIDATES_PER_SEND = 4
# How long a pass's finished sends wait for the others before they are recorded without them.
RECORD_EVERY_SECONDS = 0.5
# "When was this person last paged" looks back this far; longer ago counts as never.
RECENTLY_PAGED = timedelta(hours=24)


class NotificationFacts(Protocol):
    """What timelines say about a notification: a loaded row or a RETURNING row both fit."""

    @property
    def id(self) -> int: ...
    @property
    def incident_id(self) -> int | None: ...
    @property
    def kind(self) -> MessageKind: ...
    @property
    def contact_type(self) -> ContactType: ...
    @property
    def contact_method_id(self) -> int | None: ...
    @property
    def address(self) -> str: ...


@dataclass(frozen=True)
class DispatchPolicy:
    limits: dict[ContactType, RateLimit] = field(default_factory=dict)
    batch_size: int = 100
    concurrency: int = 20
    send_timeout: timedelta = timedelta(seconds=30)
    max_attempts: int = 5
    base_backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(minutes=5)

    def backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        delay = min(self.base_backoff * (2 ** max(attempts - 1, 0)), self.max_backoff)
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        return delay


@dataclass(frozen=True)
class Claimed:
    notification_id: int
    due_at: datetime
    message: OutboundMessage
    # The contact method's label as the timeline names it, read once per pass at the claim.
    method_label: str = ""


class Dispatcher:
    def __init__(
        self, db: Database, notifier: Notifier, policy: DispatchPolicy, signing: WebhookSigning
    ) -> None:
        self.db = db
        self.notifier = notifier
        self.policy = policy
        self.signing = signing

    async def run(self, max_passes: int = 20) -> int:
        """Send everything due now; several passes when more is due than one batch holds."""
        total = 0
        for _ in range(max_passes):
            sent = await self.run_pass()
            total += sent
            if sent < self.policy.batch_size:
                break
        return total

    async def run_pass(self) -> int:
        claimed = await self.claim()
        if not claimed:
            return 0
        limit = asyncio.Semaphore(self.policy.concurrency)

        async def deliver(item: Claimed) -> tuple[Claimed, DeliveryResult] | None:
            async with limit:
                result = await self._send(item)
            if result.ok:
                return item, result
            await self._record_not_sent(item, result)
            return None

        # Sends that went out are recorded together: those that finished within the same
        # moment share one transaction (a storm's pass of a hundred pages costs one record, not
        # a hundred), and a slow provider holds back the others' records by RECORD_EVERY at most.
        sending = {asyncio.ensure_future(deliver(item)) for item in claimed}
        errors: list[BaseException] = []
        while sending:
            try:
                finished, sending = await asyncio.wait(sending, timeout=RECORD_EVERY_SECONDS)
            except asyncio.CancelledError:
                # Stopping: the sends in flight stop with the pass, as they would in a gather.
                for task in sending:
                    task.cancel()
                raise
            sent: list[tuple[Claimed, DeliveryResult]] = []
            for task in finished:
                if (error := task.exception()) is not None:
                    errors.append(error)
                elif (outcome := task.result()) is not None:
                    sent.append(outcome)
            if sent:
                try:
                    await self._record_sent(sent)
                except Exception as exc:  # the others still finish and are recorded
                    errors.append(exc)
        if errors:
            # Unrecorded sends stay `sending` until their deadline; recovery judges them.
            raise errors[0]
        return len(claimed)

    # ---------------------------------------------------------------------------------- claim

    async def claim(self) -> list[Claimed]:
        """Take due notifications: mark them sending with a deadline (one short transaction)."""
        async with self.db.transaction() as session:
            now = self.db.clock.now()
            found = (
                await session.execute(
                    _CANDIDATES,
                    {"now": now, "limit": self.policy.batch_size * CANDIDATES_PER_SEND},
                )
            ).all()
            if not found:
                return []
            candidates = [row for row, _ in found]
            labels = {
                row.contact_method_id: label
                for row, label in found
                if row.contact_method_id is not None and label is not None
            }
            rows = await _in_send_order(session, candidates, now, self.policy.batch_size)
            to_send = await self._apply_rate_limits(session, rows, now)
            for row in to_send:
                row.status = NotificationStatus.SENDING
                row.attempts += 1
                row.sent_at = now
                row.sending_deadline = now + self.policy.send_timeout
            keys = await signing_keys_for_notifications(session, self.signing, to_send, now)
            claimed = [
                Claimed(
                    row.id,
                    row.due_at,
                    outbound_message(row, keys.get(row.id, ())),
                    labels.get(row.contact_method_id or 0, ""),
                )
                for row in to_send
            ]
        for row in to_send:
            log_state(row, "sending")
        return claimed

    async def _apply_rate_limits(
        self, session: AsyncSession, rows: Sequence[Notification], now: datetime
    ) -> list[Notification]:
        to_send: list[Notification] = []
        throttled: dict[int, list[Notification]] = defaultdict(list)
        for row in rows:
            limited = self.policy.limits.get(row.contact_type)
            if row.kind in THROTTLED_KINDS and row.contact_method_id is not None and limited:
                throttled[row.contact_method_id].append(row)
            else:
                to_send.append(row)
        if not throttled:
            return to_send
        by_type: dict[ContactType, list[int]] = defaultdict(list)
        for method_id, items in throttled.items():
            by_type[items[0].contact_type].append(method_id)
        sent: dict[int, SendsInWindow] = {}
        for contact_type, method_ids in by_type.items():
            window = self.policy.limits[contact_type].window
            sent |= await _sends_in_window(session, method_ids, now - window)
        for method_id, items in throttled.items():
            limit = self.policy.limits[items[0].contact_type]
            plan = plan_in_window(
                [i.id for i in items], sent.get(method_id, SendsInWindow(0, None)), limit
            )
            by_id = {i.id: i for i in items}
            to_send += [by_id[i] for i in plan.send]
            for i in plan.defer:
                by_id[i].due_at = plan.defer_until or now
            if plan.bundle:
                to_send.append(await _bundle(session, [by_id[i] for i in plan.bundle], limit, now))
        return to_send

    # ----------------------------------------------------------------------------------- send

    async def _send(self, item: Claimed) -> DeliveryResult:
        budget = max(self.policy.send_timeout.total_seconds() - 1, 1)
        provider = self.notifier.provider_for(item.message.contact_type)
        try:
            return await asyncio.wait_for(provider.send(item.message), timeout=budget)
        except TimeoutError:
            return DeliveryResult(
                DeliveryStatus.PERMANENT_FAILURE,
                provider.name,
                detail=f"no answer from {provider.name} within {budget:.0f}s; outcome unknown, "
                "not repeated to avoid a double page",
            )
        except Exception as exc:  # a provider bug must not take the dispatcher down
            log.exception("provider raised", extra={"notification_id": item.notification_id})
            return DeliveryResult(
                DeliveryStatus.PERMANENT_FAILURE,
                provider.name,
                detail=f"provider error: {type(exc).__name__}",
            )

    # --------------------------------------------------------------------------------- record

    async def _record_not_sent(self, item: Claimed, result: DeliveryResult) -> None:
        """A send that did not go out: retried, or failed through to what comes next."""
        async with self.db.transaction() as session:
            row = await session.scalar(
                select(Notification)
                .where(Notification.id == item.notification_id)
                .with_for_update()
            )
            if row is None or row.status is not NotificationStatus.SENDING:
                # Recovery already judged it (the send outlived its deadline); keep that verdict.
                log.warning(
                    "late send result ignored", extra={"notification_id": item.notification_id}
                )
                return
            now = self.db.clock.now()
            row.provider = result.provider
            row.sending_deadline = None
            if (
                result.status is DeliveryStatus.TEMPORARY_FAILURE
                and row.attempts < self.policy.max_attempts
            ):
                await _schedule_retry(session, row, result, now, self.policy)
                state = "retrying"
            elif result.status is DeliveryStatus.BLOCKED:
                await mark_failed(session, row, result.detail, now, blocked=True)
                state = "blocked"
            else:
                await mark_failed(session, row, result.detail or "failed", now)
                if result.contact_method_unusable and row.contact_method_id is not None:
                    await _disable_contact_method(session, row.contact_method_id, result, now)
                state = "failed"
            outcome = "blocked" if state == "blocked" else row.status
            NOTIFICATIONS.labels(contact_type=row.contact_type, outcome=outcome).inc()
        log_state(row, state, detail=result.detail)

    async def _record_sent(self, sends: Sequence[tuple[Claimed, DeliveryResult]]) -> None:
        """The common case, for a batch of sends at once: the rows still ``sending`` are locked
        and marked sent with one statement, and their timeline rows go in with one more."""
        recorded: list[tuple[Claimed, DeliveryResult, Any]] = []
        by_id = {item.notification_id: (item, result) for item, result in sends}
        async with self.db.transaction() as session:
            now = self.db.clock.now()
            rows = (await session.execute(_STILL_SENDING, {"ids": list(by_id)})).all()
            for missing in set(by_id) - {row.id for row in rows}:
                # Recovery already judged it (the send outlived its deadline); keep that verdict.
                log.warning("late send result ignored", extra={"notification_id": missing})
            if rows:
                table = Notification.__table__
                connection = await session.connection()
                await connection.execute(
                    update(table)
                    .where(table.c.id == bindparam("sent_id"))
                    .values(
                        status=NotificationStatus.SENT,
                        provider=bindparam("sent_provider"),
                        provider_message_id=bindparam("sent_message_id"),
                        sent_at=now,
                        finished_at=now,
                        sending_deadline=None,
                        last_error=None,
                    ),
                    [
                        {
                            "sent_id": row.id,
                            "sent_provider": by_id[row.id][1].provider,
                            "sent_message_id": by_id[row.id][1].provider_message_id,
                        }
                        for row in rows
                    ],
                )
            # The timeline rows lock their incidents (the foreign key) in incident order, the
            # order ingestion locks them in, so the two never wait on each other in a circle.
            async with timeline.appended_together(session):
                for row in sorted(rows, key=lambda r: (r.incident_id or 0, r.id)):
                    item, result = by_id[row.id]
                    sent = partial(
                        events.NotificationSent,
                        provider=result.provider,
                        provider_message_id=result.provider_message_id,
                    )
                    await record_event(session, row, sent, now, method_label=item.method_label)
                    recorded.append((item, result, row))
        for item, result, row in recorded:
            NOTIFICATIONS.labels(
                contact_type=row.contact_type, outcome=NotificationStatus.SENT
            ).inc()
            NOTIFICATION_LAG_SECONDS.observe(max((now - item.due_at).total_seconds(), 0))
            log_state(row, "sent", provider_message_id=result.provider_message_id)

    # ------------------------------------------------------------------------------ recovery

    async def fail_stale_sends(self, limit: int = 100) -> int:
        """Sends whose process died mid-call: their outcome is unknown. See ``_recover``."""
        async with self.db.transaction() as session:
            now = self.db.clock.now()
            stale = (
                await session.execute(
                    select(Notification.id, Notification.incident_id)
                    .where(
                        Notification.status == NotificationStatus.SENDING,
                        Notification.sending_deadline < now,
                    )
                    .order_by(Notification.id)
                    .limit(limit)
                )
            ).all()
        recovered = 0
        for notification_id, incident_id in stale:
            # The incident first, then the notification: the order every command locks in.
            async with self.db.transaction() as session:
                now = self.db.clock.now()
                incident = None
                if incident_id is not None:
                    incident = await session.scalar(
                        select(Incident).where(Incident.id == incident_id).with_for_update()
                    )
                row = await session.scalar(
                    select(Notification)
                    .where(
                        Notification.id == notification_id,
                        Notification.status == NotificationStatus.SENDING,
                        Notification.sending_deadline < now,
                    )
                    .with_for_update(skip_locked=True)
                )
                if row is None:
                    continue
                state = await self._recover(session, row, incident, now)
                recovered += 1
            log_state(row, state, detail="outcome unknown: the sender stopped mid-send")
        return recovered

    async def _recover(
        self, session: AsyncSession, row: Notification, incident: Incident | None, now: datetime
    ) -> str:
        """Cover the person whose send was cut short, choosing by what a repeat would cost.

        A webhook is sent again: receivers deduplicate on the delivery id. A text, call, e-mail
        or Slack message is not repeated while something else will reach the person or their
        backup: their next rule moves up to now, else the incident's next escalation step does.
        With neither, it is sent once more and marked as a possible duplicate: a second page
        beats a missed one.
        """
        row.sending_deadline = None
        unknown = "outcome unknown: the sender stopped before recording the result"
        if row.contact_type is ContactType.WEBHOOK and row.attempts < self.policy.max_attempts:
            row.status = NotificationStatus.PENDING
            row.due_at = now
            row.sent_at = None
            row.last_error = f"{unknown}; sent again (receivers deduplicate on X-Baton-Delivery)"
            again = partial(
                events.NotificationRetry,
                because=events.RetryBecause.OUTCOME_UNKNOWN,
                attempt=row.attempts,
            )
            await record_event(session, row, again, now)
            wake_dispatcher_after_commit(session)
            return "retrying"
        still_needed = row.kind in (*THROTTLED_KINDS, MessageKind.SUMMARY) and (
            incident is None or incident.state is IncidentState.TRIGGERED
        )
        if not still_needed:
            await mark_failed(session, row, f"{unknown}; not repeated", now)
            return "failed"
        if await _has_later_rule(session, row):
            await mark_failed(session, row, f"{unknown}; not repeated, the next rule covers", now)
            return "failed"
        ref = await notification_ref(session, row)
        if incident is not None and escalation_can_come_forward(incident, ref):
            await mark_failed(session, row, f"{unknown}; not repeated, the next step covers", now)
            await bring_escalation_forward(session, incident, ref, now)
            wake_dispatcher_after_commit(session)
            return "failed"
        if not row.context.get("possible_duplicate"):
            row.status = NotificationStatus.PENDING
            row.due_at = now
            row.sent_at = None
            row.context = {**row.context, "possible_duplicate": True}
            row.subject = f"{messages.POSSIBLE_DUPLICATE} {row.subject}"[:1024]
            row.body = f"{messages.POSSIBLE_DUPLICATE} {row.body}"[:4000]
            row.last_error = f"{unknown}; sent once more as a possible duplicate"
            once_more = partial(
                events.NotificationRetry,
                because=events.RetryBecause.POSSIBLE_DUPLICATE,
                attempt=row.attempts,
            )
            await record_event(session, row, once_more, now)
            wake_dispatcher_after_commit(session)
            return "retrying"
        await mark_failed(session, row, f"{unknown}; already repeated once", now)
        return "failed"


async def _sends_in_window(
    session: AsyncSession, method_ids: list[int], since: datetime
) -> dict[int, SendsInWindow]:
    """How many messages each contact method was sent since ``since``, and the oldest: one
    grouped query, however many a storm sent to one pager within the window."""
    rows = await session.execute(_SENDS_IN_WINDOW, {"ids": method_ids, "since": since})
    return {
        method_id: SendsInWindow(count, oldest)
        for method_id, count, oldest in rows.all()
        if method_id is not None
    }


# Built once: every pass runs them, and building a statement costs about as much CPU as the
# driver's round trip.
_CANDIDATES = (
    # With each its contact method's label, as the timeline names it once sent.
    select(Notification, ContactMethod.label)
    .outerjoin(ContactMethod, ContactMethod.id == Notification.contact_method_id)
    .where(
        Notification.status == NotificationStatus.PENDING,
        Notification.due_at <= bindparam("now"),
    )
    .order_by(Notification.priority, Notification.due_at, Notification.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True, of=Notification)
)
_STILL_SENDING = (
    select(
        Notification.id,
        Notification.incident_id,
        Notification.kind,
        Notification.contact_type,
        Notification.contact_method_id,
        Notification.address,
    )
    .where(
        Notification.id.in_(bindparam("ids", expanding=True)),
        Notification.status == NotificationStatus.SENDING,
    )
    .order_by(Notification.id)
    .with_for_update()
)
_SENDS_IN_WINDOW = (
    select(Notification.contact_method_id, func.count(), func.min(Notification.sent_at))
    .where(
        Notification.contact_method_id.in_(bindparam("ids", expanding=True)),
        Notification.sent_at > bindparam("since"),
        Notification.status.in_(
            [NotificationStatus.SENDING, NotificationStatus.SENT, NotificationStatus.DELIVERED]
        ),
    )
    .group_by(Notification.contact_method_id)
)


async def _in_send_order(
    session: AsyncSession, candidates: Sequence[Notification], now: datetime, batch: int
) -> list[Notification]:
    """The ``batch`` to send now: by priority, then the least recently paged person first
    (someone paged a minute ago waits behind someone not paged today), then the oldest due.
    The candidates left over stay pending for the next pass."""
    people = {c.user_id for c in candidates if c.user_id is not None}
    last_paged: dict[int, datetime] = {}
    # Without a backlog every candidate goes now: there is nothing to choose, so nothing to ask.
    if people and len(candidates) > batch:
        rows = await session.execute(
            select(Notification.user_id, func.max(Notification.sent_at))
            .where(
                Notification.user_id.in_(people),
                Notification.kind.in_(PAGING_KINDS),
                Notification.sent_at >= now - RECENTLY_PAGED,
            )
            .group_by(Notification.user_id)
        )
        last_paged = {user_id: at for user_id, at in rows.all() if at is not None}

    def order(row: Notification) -> tuple[int, float, datetime, int]:
        paged = last_paged.get(row.user_id) if row.user_id is not None else None
        return (row.priority, paged.timestamp() if paged else 0.0, row.due_at, row.id)

    return sorted(candidates, key=order)[:batch]


async def _bundle(
    session: AsyncSession, items: list[Notification], limit: RateLimit, now: datetime
) -> Notification:
    first = items[0]
    context = messages.summary_context([i.context for i in items])
    summary = Notification(
        user_id=first.user_id,
        contact_method_id=first.contact_method_id,
        kind=MessageKind.SUMMARY,
        contact_type=first.contact_type,
        address=first.address,
        subject=messages.summary_subject(context),
        body=messages.summary_text(context),
        context=context,
        status=NotificationStatus.PENDING,
        due_at=now,
        priority=SendPriority.SUMMARY,
        created_at=now,
    )
    session.add(summary)
    await session.flush()
    for item in items:
        item.status = NotificationStatus.BUNDLED
        item.bundle_id = summary.id
        item.finished_at = now
        if item.incident_id is not None:
            bundled = events.NotificationBundled(
                notification=await notification_ref(session, item),
                summary_id=summary.id,
                limit=limit.count,
                window_minutes=int(limit.window.total_seconds() // 60) or 1,
                bundled=len(items),
            )
            timeline.append(session, item.incident_id, bundled, at=now)
    return summary


def outbound_message(
    row: Notification, signing_keys: tuple[SigningKey, ...] = ()
) -> OutboundMessage:
    """The message a provider gets for an outbox row (the row id travels in the context)."""
    context = dict(row.context)
    context["notification_id"] = row.id
    return OutboundMessage(
        contact_type=row.contact_type,
        address=row.address,
        kind=row.kind,
        subject=row.subject,
        text=row.body,
        user_id=row.user_id,
        context=context,
        signing_keys=signing_keys,
    )


async def notification_ref(
    session: AsyncSession, row: NotificationFacts, *, method_label: str | None = None
) -> events.NotificationRef:
    """A notification as timelines name it: its address masked, since every reader of a timeline
    sees it, and the contact method's label, which tells two methods of one kind apart (read
    here unless the caller has it)."""
    if method_label is None:
        method = (
            await session.get(ContactMethod, row.contact_method_id)
            if row.contact_method_id is not None
            else None
        )
        method_label = method.label if method is not None else ""
    return events.NotificationRef(
        id=row.id,
        message_kind=MessageKind(row.kind).value,
        contact_type=ContactType(row.contact_type).value,
        contact_method_id=row.contact_method_id,
        address=mask_address(row.contact_type, row.address),
        method_label=method_label,
    )


async def incidents_of(session: AsyncSession, row: NotificationFacts) -> list[int]:
    if row.incident_id is not None:
        return [row.incident_id]
    if row.kind is MessageKind.SUMMARY:
        ids = await session.scalars(
            select(Notification.incident_id).where(Notification.bundle_id == row.id).distinct()
        )
        return [i for i in ids if i is not None]
    return []


async def record_event(
    session: AsyncSession,
    row: NotificationFacts,
    event_about: Callable[..., events.NotificationEvent],
    now: datetime,
    *,
    method_label: str | None = None,
) -> None:
    """On the timeline of the notification's incident, or of every incident a summary covers.

    ``event_about(notification=ref)`` makes the event; nothing is looked up for a message that
    belongs to no incident (a verification code, a Slack status update)."""
    incident_ids = await incidents_of(session, row)
    if not incident_ids:
        return
    event = event_about(
        notification=await notification_ref(session, row, method_label=method_label)
    )
    for incident_id in incident_ids:
        timeline.append(session, incident_id, event, at=now)


async def _schedule_retry(
    session: AsyncSession,
    row: Notification,
    result: DeliveryResult,
    now: datetime,
    policy: DispatchPolicy,
) -> None:
    delay = policy.backoff(row.attempts, result.retry_after_seconds)
    row.status = NotificationStatus.PENDING
    row.due_at = now + delay
    row.sent_at = None
    row.last_error = result.detail[:1000]
    retry = partial(
        events.NotificationRetry,
        because=events.RetryBecause.TEMPORARY_FAILURE,
        attempt=row.attempts,
        max_attempts=policy.max_attempts,
        retry_in_seconds=int(delay.total_seconds()),
        reason=result.detail,
    )
    await record_event(session, row, retry, now)


async def mark_failed(
    session: AsyncSession,
    row: Notification,
    reason: str,
    now: datetime,
    *,
    blocked: bool = False,
) -> None:
    row.status = NotificationStatus.FAILED
    row.finished_at = now
    row.last_error = reason[:1000]
    if blocked:
        failure = partial(events.NotificationBlocked, reason=reason, attempts=row.attempts)
    else:
        failure = partial(
            events.NotificationFailed,
            reason=reason,
            attempts=row.attempts,
            provider=row.provider,
            provider_message_id=row.provider_message_id,
        )
    await record_event(session, row, failure, now)
    for page_id in await _pages_of(session, row):
        await _fall_through(session, page_id, row.contact_method_id, now)


async def _pages_of(session: AsyncSession, row: Notification) -> list[int]:
    """The page a notification serves; for a summary, every page it folded."""
    if row.kind is not MessageKind.SUMMARY:
        return [row.page_id] if row.page_id is not None else []
    folded = await session.scalars(
        select(Notification.page_id).where(Notification.bundle_id == row.id)
    )
    return [page_id for page_id in folded if page_id is not None]


async def _has_later_rule(session: AsyncSession, row: Notification) -> bool:
    """Whether another of the person's rules for this page (a summary: for any of the pages it
    folded) is still to fire."""
    pages = await _pages_of(session, row)
    if not pages:
        return False
    later = await session.scalar(
        select(Notification.id)
        .where(
            Notification.page_id.in_(pages),
            Notification.status == NotificationStatus.PENDING,
            Notification.id != row.id,
            Notification.contact_method_id.is_distinct_from(row.contact_method_id),
        )
        .limit(1)
    )
    return later is not None


def log_state(row: NotificationFacts, state: str, **extra: object) -> None:
    """One line per notification state change, so an operator can grep what was paged."""
    log.info(
        "notification %s",
        state,
        extra={
            "notification_id": row.id,
            "incident_id": row.incident_id,
            "state": state,
            "kind": str(row.kind),
            "channel": str(row.contact_type),
            "address": mask_address(row.contact_type, row.address),
            **{k: v for k, v in extra.items() if v is not None},
        },
    )


async def _fall_through(
    session: AsyncSession, page_id: int, failed_method_id: int | None, now: datetime
) -> None:
    """The person's next rule fires now instead of waiting for its delay."""
    following = await session.scalar(
        select(Notification)
        .where(
            Notification.page_id == page_id,
            Notification.status == NotificationStatus.PENDING,
            Notification.due_at > now,
            Notification.contact_method_id.is_distinct_from(failed_method_id),
        )
        .order_by(Notification.due_at, Notification.id)
        .limit(1)
        .with_for_update()
    )
    if following is None:
        return
    following.due_at = now
    if following.incident_id is not None:
        moved = events.NotificationFallthrough(
            notification=await notification_ref(session, following)
        )
        timeline.append(session, following.incident_id, moved, at=now)
    wake_dispatcher_after_commit(session)


async def _disable_contact_method(
    session: AsyncSession, method_id: int, result: DeliveryResult, now: datetime
) -> None:
    method = await session.get(ContactMethod, method_id)
    if method is not None and method.disabled_at is None:
        method.disabled_at = now
        method.disabled_reason = (result.detail or "rejected by the provider")[:200]
