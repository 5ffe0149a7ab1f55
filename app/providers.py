"""Which provider carries each contact type, from settings (called by the composition root).

A channel whose credentials are missing is simply left out: the notifier's fallback (the
console provider) prints those messages, so a Baton without any credentials still pages.
Lives beside ``main`` rather than in ``notify`` because it picks the vendors' providers
(``app.integrations.slack``, ``app.integrations.twilio``), which ``notify`` does not import.
"""

from __future__ import annotations

from app.core.clock import Clock
from app.core.settings import Settings
from app.integrations.slack.client import SlackApi
from app.integrations.slack.provider import SlackProvider
from app.integrations.twilio.provider import TwilioConfig, TwilioProvider
from app.notify.base import Provider
from app.notify.email import EmailProvider, SmtpConfig
from app.notify.pacing import Pacer
from app.people.models import ContactType


def twilio_config(settings: Settings) -> TwilioConfig | None:
    if not settings.twilio_configured or settings.twilio_auth_token is None:
        return None
    return TwilioConfig(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        from_number=settings.twilio_from_number,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        public_url=settings.public_url,
        api_base_url=settings.twilio_api_base_url,
        timeout=settings.twilio_timeout_seconds,
        sms_per_second=settings.twilio_sms_per_second,
        calls_per_second=settings.twilio_calls_per_second,
    )


def providers_from_settings(settings: Settings, clock: Clock) -> dict[ContactType, Provider]:
    providers: dict[ContactType, Provider] = {}
    config = twilio_config(settings)
    if config is not None:
        twilio = TwilioProvider(config)
        providers[ContactType.SMS] = twilio
        if config.from_number:  # calls need a caller id; a Messaging Service cannot call
            providers[ContactType.VOICE] = twilio
    if settings.slack_configured and settings.slack_bot_token is not None:
        api = SlackApi(settings.slack_bot_token.get_secret_value(), settings.slack_api_base_url)
        providers[ContactType.SLACK] = SlackProvider(
            api, settings.public_url, pacer=Pacer(settings.slack_messages_per_second)
        )
    if settings.smtp_configured:
        providers[ContactType.EMAIL] = EmailProvider(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                public_url=settings.public_url,
                username=settings.smtp_username,
                password=(
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                ),
                starttls=settings.smtp_starttls,
                use_ssl=settings.smtp_ssl,
                timeout=settings.smtp_timeout_seconds,
            ),
            clock,
        )
    return providers
