"""The console notifier prints verification codes only in development (issue 10, item 7).

A production or CI console is read by more people than the code's owner; whoever reads the
code can prove a phone number that is not theirs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.core.clock import ManualClock
from app.core.settings import Environment, Settings
from app.main import Overrides, build_notifier
from app.notify.base import MessageKind, OutboundMessage
from app.people.models import ContactType

CODE = "493817"


def _verification() -> OutboundMessage:
    return OutboundMessage(
        contact_type=ContactType.SMS,
        address="+15555550123",
        kind=MessageKind.VERIFICATION,
        subject="Baton verification code",
        text=f"Your Baton verification code is {CODE}. It expires in 10 minutes.",
    )


def _page() -> OutboundMessage:
    return OutboundMessage(
        contact_type=ContactType.SMS,
        address="+15555550123",
        kind=MessageKind.PAGE,
        subject="#1234 checkout down",
        text="#1234 checkout down. Reply 1234a to ack",
    )


@pytest.mark.parametrize(
    ("env", "printed"),
    [
        (Environment.DEVELOPMENT, True),
        (Environment.PRODUCTION, False),
        (Environment.TEST, False),
    ],
)
async def test_verification_codes_reach_the_console_only_in_development(
    env: Environment, printed: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    settings = Settings(env=env, secret_key="s" * 48)
    console = build_notifier(settings, clock, Overrides()).fallback
    await console.send(_verification())
    await console.send(_page())
    out = capsys.readouterr().out
    assert (CODE in out) is printed
    assert "Baton verification code is" in out and "expires in 10 minutes" in out
    if not printed:
        assert "code is ******." in out
    # Pages are printed whole everywhere: the console is the pager of a credential-less setup.
    assert "Reply 1234a to ack" in out and "#1234 checkout down" in out
