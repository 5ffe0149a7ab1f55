"""The Slack app's engine jobs, for ``app.main`` to hand to the engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.core.db import Database
from app.integrations.slack.announce import announce_oncall_changes
from app.integrations.slack.provider import SlackProvider
from app.notify.base import Notifier
from app.people.models import ContactType

# Hand-offs happen on the minute; half a minute keeps announcements close to them.
ANNOUNCE_SECONDS = 30.0


def slack_engine_jobs(
    db: Database, notifier: Notifier
) -> dict[str, tuple[float, Callable[[], Awaitable[object]]]]:
    """The announcement job when Slack is configured (a bot token), else nothing."""
    provider = notifier.provider_for(ContactType.SLACK)
    if not isinstance(provider, SlackProvider):
        return {}
    api = provider.api
    return {"slack-announcements": (ANNOUNCE_SECONDS, lambda: announce_oncall_changes(db, api))}
