"""Fake providers for tests: Twilio, Slack, SMTP and a webhook receiver.

Real SDK clients (``twilio``, ``slack_sdk``, ``smtplib``, ``httpx``) talk to these over
HTTP/SMTP on 127.0.0.1. See docs/testing-fakes.md; fixtures are in ``tests.fakes.plugin``.
"""

from tests.fakes.slack import (
    FakeSlack,
    FakeSlackChannel,
    FakeSlackUser,
    SentRequest,
    SlackApiCall,
    SlackMessage,
    SlackView,
)
from tests.fakes.smtp import FakeMailbox, FakeSMTP, MailRecord
from tests.fakes.twilio import (
    CallRecord,
    FakePhone,
    FakeTwilio,
    SmsRecord,
    TwilioRequest,
    make_twilio_client,
)
from tests.fakes.webhook import WebhookReceiver, WebhookRecord

__all__ = [
    "CallRecord",
    "FakeMailbox",
    "FakePhone",
    "FakeSMTP",
    "FakeSlack",
    "FakeSlackChannel",
    "FakeSlackUser",
    "FakeTwilio",
    "MailRecord",
    "SentRequest",
    "SlackApiCall",
    "SlackMessage",
    "SlackView",
    "SmsRecord",
    "TwilioRequest",
    "WebhookReceiver",
    "WebhookRecord",
    "make_twilio_client",
]
