"""The Slack provider as the Slack app uses it: cover requests arrive with an Accept button.

Chosen at the composition root (``app.main.build_notifier``) in place of the plain
``SlackProvider``; everything else renders exactly as before.
"""

from __future__ import annotations

from typing import Any

from app.integrations.slack import replies
from app.notify.base import MessageKind, OutboundMessage, Provider
from app.notify.slack import SlackProvider
from app.people.models import ContactType


def is_cover_request(message: OutboundMessage) -> bool:
    """The question to colleagues (the confirmations after accepting carry ``override_id``)."""
    context = message.context
    return (
        message.kind is MessageKind.INFO
        and "cover_request_id" in context
        and "override_id" not in context
    )


class SlackAppProvider(SlackProvider):
    def render(self, message: OutboundMessage) -> tuple[str, list[dict[str, Any]]]:
        if is_cover_request(message):
            request_id = int(message.context["cover_request_id"])
            return message.text, replies.cover_request_blocks(message.text, request_id)
        return super().render(message)


def with_slack_app(providers: dict[ContactType, Provider]) -> None:
    """Swap the configured Slack provider for the Slack app's (same client, same pacing)."""
    provider = providers.get(ContactType.SLACK)
    if type(provider) is SlackProvider:
        providers[ContactType.SLACK] = SlackAppProvider(
            provider.api, provider.public_url, pacer=provider.pacer
        )
