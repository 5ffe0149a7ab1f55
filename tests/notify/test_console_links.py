"""The console's page lines carry the link to the incident, as Slack and e-mail pages do."""

from __future__ import annotations

import io

from app.core.clock import ManualClock
from app.notify.base import MessageKind, OutboundMessage
from app.notify.console import ConsoleProvider
from app.people.models import ContactType


def _message(context: dict[str, object]) -> OutboundMessage:
    return OutboundMessage(
        contact_type=ContactType.SMS,
        address="+15555550123",
        kind=MessageKind.PAGE,
        subject="[HIGH] #61 payments-api: 5xx",
        text="Baton #61 payments-api: 5xx",
        context=context,
    )


async def test_a_page_line_ends_with_the_incident_link(clock: ManualClock) -> None:
    lines = io.StringIO()
    console = ConsoleProvider(clock, stream=lines, public_url="http://127.0.0.1:8080/")
    await console.send(_message({"path": "/incidents/61"}))
    assert lines.getvalue().rstrip("\n").endswith("| http://127.0.0.1:8080/incidents/61")


async def test_no_link_without_a_path_or_a_public_url(clock: ManualClock) -> None:
    lines = io.StringIO()
    await ConsoleProvider(clock, stream=lines, public_url="http://baton").send(_message({}))
    await ConsoleProvider(clock, stream=lines).send(_message({"path": "/incidents/61"}))
    assert "http" not in lines.getvalue()


async def test_a_verification_line_never_adds_its_secret_link(clock: ManualClock) -> None:
    """A sign-in link's path holds its token: where codes are masked it must not come back."""
    lines = io.StringIO()
    console = ConsoleProvider(clock, stream=lines, public_url="http://baton")
    secret = OutboundMessage(
        contact_type=ContactType.EMAIL,
        address="alice@example.com",
        kind=MessageKind.VERIFICATION,
        subject="Your Baton sign-in link",
        text="Sign in to Baton: http://baton/sign-in/link?token=8439429745905822",
        context={"path": "/sign-in/link?token=8439429745905822"},
    )
    await console.send(secret)
    assert "8439429745905822" not in lines.getvalue()
