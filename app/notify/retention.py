"""How long the outbox keeps what it sent (the engine job ``outbox-prune``).

* A notification's payload (its body and context: the words and links of the message) is kept
  ``BATON_DELIVERY_PAYLOAD_RETENTION_DAYS`` (30) once it is final and its incident resolved;
  then it is blanked. The row stays as long as its incident: who was notified, how, when and
  with what outcome is the incident's history and the pager-load metrics' source.
* Notifications for no incident (shift reminders, digests, sign-in links, verification codes,
  readiness notices, FYIs) are deleted once final and older than the same period, except the
  summaries that bundled several incidents' pages: they count in pager load, so their rows
  are blanked like a page's and kept as long as incidents are.
* Inbound receipts (the provider requests already acted on, kept to refuse replays) are kept
  ``BATON_INBOUND_RECEIPT_RETENTION_DAYS`` (7). A Twilio request replayed later than that is
  acted on again; by then its incident is long answered and the action is refused or harmless.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import exists

from app.core.db import Database
from app.core.retention import delete_in_batches, update_in_batches
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident
from app.notify.base import MessageKind
from app.notify.channel_models import InboundReceipt
from app.notify.models import Notification, NotificationStatus

log = logging.getLogger(__name__)

FINAL = [s for s in NotificationStatus if s.is_final]


async def prune(
    db: Database,
    *,
    payload_retention: timedelta,
    receipt_retention: timedelta,
    history_retention: timedelta,
) -> int:
    now = db.clock.now()
    payload_cutoff = now - payload_retention
    resolved = exists().where(
        Incident.id == Notification.incident_id, Incident.state == IncidentState.RESOLVED
    )
    old = Notification.status.in_(FINAL) & (Notification.created_at < payload_cutoff)
    summary = Notification.kind == MessageKind.SUMMARY
    blanked = await update_in_batches(
        db,
        Notification,
        old
        & (Notification.body != "")
        & (((Notification.incident_id.is_not(None)) & resolved) | summary),
        {"body": "", "context": {}},
    )
    deleted = await delete_in_batches(
        db, Notification, old & Notification.incident_id.is_(None) & ~summary
    )
    summaries = await delete_in_batches(
        db,
        Notification,
        summary & (Notification.created_at < now - history_retention),
    )
    receipts = await delete_in_batches(
        db, InboundReceipt, InboundReceipt.received_at < now - receipt_retention
    )
    deleted += summaries
    if blanked or deleted or receipts:
        log.info(
            "outbox pruned",
            extra={"payloads_blanked": blanked, "deleted": deleted, "receipts_deleted": receipts},
        )
    return blanked + deleted + receipts
