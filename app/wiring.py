"""What a Baton process connects at start-up, explicitly: who hears about incident events, and
what plugs into other modules' hooks and tables (SMS reply codes, the Slack app's buttons).

Called by the app factory, the CLI and the test suite. Importing a module never registers
anything; this does, and doing it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import service as alerts
from app.catalog import changes as service_changes
from app.catalog import history as service_history
from app.deploys import api as deploys_api
from app.deploys import service as deploys
from app.deploys import subscribers as deploy_subscribers
from app.escalation import changes as policy_changes
from app.incidents import api as incidents_api
from app.incidents import counters
from app.incidents import history as incident_history
from app.incidents import service as incidents
from app.incidents.subscribers import subscribe
from app.integrations import deploy_keys
from app.integrations import service as gateway_service
from app.integrations.slack import incident_updates as slack_updates
from app.integrations.slack import modals as slack_app
from app.integrations.slack import readiness_actions as slack_readiness
from app.integrations.twilio import reply_codes
from app.notify import informational, updates
from app.notify import subscribers as notify
from app.notify.base import MessageKind
from app.schedules import messaging as schedule_messages


def wire() -> None:
    policy_changes.watch()
    # In this order: waiting pages are cancelled and alerts closed before the channels showing
    # the incident hear the change, so what they hear counts both.
    subscribe("notify.pages", notify.queue_pages)
    subscribe("notify.cancellations", notify.cancel_pending_pages)
    subscribe("alerts.close_on_resolve", alerts.close_alerts_of_resolved)
    subscribe("slack.message_updates", slack_updates.update_slack_messages)
    subscribe("notify.webhook_updates", updates.tell_webhooks)
    subscribe("notify.exhausted", notify.tell_exhausted)
    subscribe("deploys.judgements", deploy_subscribers.follow_deploy_judgements)
    subscribe("incidents.counters", counters.count)
    # SMS pages get their reply codes ("4a") when their outbox rows are flushed.
    reply_codes.install()
    # The Slack app's dialogs and the cover Accept button, beside the incident buttons.
    slack_app.register_interactions()
    # Accept / Decline on hand-over requests and handback proposals, and their dialogs.
    slack_readiness.register_interactions()
    # Shift reminders and cover requests leave through notify's outbox.
    schedule_messages.TELLER.install(_queue_schedule_message)
    # A service with incidents is never deleted; the catalog asks the incidents.
    service_history.INCIDENT_COUNT.install(incident_history.count_for_service)
    # The incident detail lists its alerts; the incidents ask the alerts.
    incidents_api.INCIDENT_ALERTS.install(alerts.alerts_by_incident)
    # A new incident names the deploy it opened after; the incidents ask the deploys.
    incidents.NEARBY_DEPLOY.install(deploys.nearby)
    # Deploys may be reported with a service's integration key; the integrations own the keys.
    deploys_api.INTEGRATION_KEY_SERVICE.install(deploy_keys.service_of_key)
    # A committed service change (a hand-over's new policy) reaches the next alert at once.
    service_changes.SERVICE_CHANGED.install(gateway_service.forget_service_everywhere)


async def _queue_schedule_message(
    session: AsyncSession,
    user_id: int,
    *,
    subject: str,
    text: str,
    kind: schedule_messages.MessageKind,
    context: Mapping[str, object],
) -> None:
    await informational.inform_user(
        session, user_id, subject=subject, text=text, kind=MessageKind(kind), context=dict(context)
    )
