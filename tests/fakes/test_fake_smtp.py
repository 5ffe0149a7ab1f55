"""Self-tests of the fake SMTP server, driven by smtplib."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

import pytest

from tests.fakes.plugin import fake_smtp  # noqa: F401 - fixture
from tests.fakes.smtp import FakeSMTP


def page_mail(
    to: str = "alice@example.test, bob@example.test", cc: str | None = "ops@example.test"
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Baton <baton@example.test>"
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = "[SEV1] INC-1042 payments-api 5xx ratio above 5%"
    msg.set_content("INC-1042 is triggered.\nAcknowledge: http://baton.test/incidents/1042\n")
    msg.add_alternative("<p><b>INC-1042</b> is triggered. <a href='#'>Acknowledge</a></p>", "html")
    return msg


def send(fake: FakeSMTP, msg: EmailMessage, login: tuple[str, str] | None = None) -> None:
    with smtplib.SMTP(fake.host, fake.port, timeout=5) as smtp:
        if login:
            smtp.login(*login)
        smtp.send_message(msg)


async def test_mail_is_recorded_per_recipient(fake_smtp: FakeSMTP) -> None:  # noqa: F811
    await asyncio.to_thread(send, fake_smtp, page_mail())
    alice = await fake_smtp.expect_mail(to="Alice@Example.test", contains="INC-1042")
    assert alice.subject.startswith("[SEV1] INC-1042")
    assert alice.mail_from == "baton@example.test"
    assert alice.from_ == "Baton <baton@example.test>"
    assert alice.to == ["alice@example.test", "bob@example.test"]
    assert alice.cc == ["ops@example.test"]
    assert sorted(alice.rcpt_tos) == ["alice@example.test", "bob@example.test", "ops@example.test"]
    assert "Acknowledge: http://baton.test/incidents/1042" in alice.text
    assert "<b>INC-1042</b>" in alice.html
    assert alice.header("Subject") == alice.subject
    await fake_smtp.mailbox("bob@example.test").expect_mail(subject="INC-1042")
    with pytest.raises(AssertionError, match=r"ops@example\.test"):
        fake_smtp.assert_no_unexpected()
    await fake_smtp.expect_mail(to="ops@example.test")
    fake_smtp.assert_no_unexpected()


def test_auth_is_checked_when_configured() -> None:
    with FakeSMTP(username="baton", password="s3cret") as fake:
        send(fake, page_mail("alice@example.test", cc=None), login=("baton", "s3cret"))
        with pytest.raises(smtplib.SMTPAuthenticationError):
            send(fake, page_mail("alice@example.test"), login=("baton", "wrong"))
        with pytest.raises(smtplib.SMTPSenderRefused) as info:
            send(fake, page_mail("alice@example.test"))
        assert info.value.smtp_code == 530
        (mail,) = fake.messages
        assert mail.auth_login == "baton" and fake.logins == ["baton"]


def test_failure_injection() -> None:
    with FakeSMTP() as fake:
        fake.fail_next(451, "4.3.0 Try again later", stage="DATA")
        fake.fail_next(550, "5.1.1 No such user", stage="RCPT", rcpt="gone@example.test")
        with pytest.raises(smtplib.SMTPDataError) as data_error:
            send(fake, page_mail("alice@example.test"))
        assert data_error.value.smtp_code == 451
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(fake, page_mail("gone@example.test", cc=None))
        assert refused.value.recipients["gone@example.test"][0] == 550
        assert fake.messages == []
        send(fake, page_mail("alice@example.test"))
        assert [m.rcpt for m in fake.messages] == ["alice@example.test", "ops@example.test"]
        fake.allow_unexpected = True


async def test_timeouts_and_the_nothing_sent_check(fake_smtp: FakeSMTP) -> None:  # noqa: F811
    fake_smtp.assert_nothing_sent()
    await asyncio.to_thread(send, fake_smtp, page_mail("alice@example.test"))
    with pytest.raises(AssertionError) as info:
        await fake_smtp.expect_mail(to="bob@example.test", timeout=0.1)
    assert "expected mail to bob@example.test" in str(info.value)
    with pytest.raises(AssertionError, match="INC-1042"):
        fake_smtp.assert_nothing_sent()
    await fake_smtp.expect_mail("alice@example.test")
    await fake_smtp.expect_mail("ops@example.test")
