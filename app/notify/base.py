"""The provider protocol: how a message leaves Baton. Providers are chosen once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from app.people.models import ContactType


class MessageKind(StrEnum):
    PAGE = "page"
    VERIFICATION = "verification"
    TEST = "test"
    REMINDER = "reminder"
    STATUS_UPDATE = "status_update"
    SUMMARY = "summary"
    INFO = "info"


@dataclass(frozen=True)
class SigningKey:
    """A webhook signing key as a delivery uses it; the secret never shows in a repr or a log."""

    key_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class OutboundMessage:
    contact_type: ContactType
    address: str
    kind: MessageKind
    subject: str
    text: str
    user_id: int | None = None
    # Structured context for rich channels (Slack blocks, e-mail HTML, webhook JSON).
    context: dict[str, Any] = field(default_factory=dict)
    # Webhooks: the keys that sign this delivery, the current one first.
    signing_keys: tuple[SigningKey, ...] = field(default=(), repr=False)


class DeliveryStatus(StrEnum):
    SENT = "sent"
    TEMPORARY_FAILURE = "temporary_failure"
    PERMANENT_FAILURE = "permanent_failure"
    # Refused before sending: the destination is in a network Baton does not send to.
    BLOCKED = "blocked"


@dataclass(frozen=True)
class DeliveryResult:
    status: DeliveryStatus
    provider: str
    provider_message_id: str | None = None
    detail: str = ""
    retry_after_seconds: float | None = None
    # The address itself is bad (invalid number, unsubscribed, unknown Slack user): stop using it.
    contact_method_unusable: bool = False

    @property
    def ok(self) -> bool:
        return self.status is DeliveryStatus.SENT


class Provider(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> DeliveryResult: ...


class Notifier:
    """Routes each message to the provider configured for its contact type."""

    def __init__(self, providers: dict[ContactType, Provider], fallback: Provider) -> None:
        self._providers = providers
        self._fallback = fallback

    def provider_for(self, contact_type: ContactType) -> Provider:
        return self._providers.get(contact_type, self._fallback)

    def providers(self) -> list[Provider]:
        return list(self._providers.values())

    @property
    def fallback(self) -> Provider:
        return self._fallback

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        return await self.provider_for(message.contact_type).send(message)
