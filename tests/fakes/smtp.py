"""Fake SMTP server (aiosmtpd on 127.0.0.1, ephemeral port) recording mail per recipient.

    mail = await fake_smtp.expect_mail(to="alice@example.test", contains="INC-1042")
    assert "Acknowledge" in mail.html

Each envelope recipient gets its own ``MailRecord`` (like one mailbox each), so a message
sent to two people needs two expectations.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.fakes._core import (
    DEFAULT_TIMEOUT,
    Contains,
    Inbox,
    describe_contains,
    raise_problems,
    short,
    text_matches,
)


@dataclass(eq=False)
class MailRecord:
    """One message as delivered to one envelope recipient."""

    rcpt: str
    mail_from: str
    rcpt_tos: list[str]
    from_: str
    to: list[str]
    cc: list[str]
    subject: str
    text: str
    html: str
    message: EmailMessage
    raw: bytes
    auth_login: str | None
    received_at: float
    consumed: bool = False

    @property
    def all_text(self) -> str:
        return "\n".join([self.subject, self.text, self.html])

    def header(self, name: str) -> str | None:
        value = self.message.get(name)
        return None if value is None else str(value)

    def describe(self) -> str:
        return (
            f"mail to {self.rcpt} from {self.mail_from} subject {self.subject!r}: "
            f"{short(self.text or self.html)!r}"
        )


@dataclass
class SmtpFailure:
    stage: str
    code: int
    message: str
    rcpt: str | None
    times: int | None
    hits: int = 0
    # Seconds to sit on the command before answering: the sender's process may die meanwhile.
    hold: float = 0.0


class _Controller(Controller):
    """aiosmtpd's threaded controller, bound to an ephemeral port."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class _Handler:
    def __init__(self, fake: FakeSMTP) -> None:
        self.fake = fake

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.fake.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        rule = self.fake._take_failure("RCPT", address)
        if rule is not None:
            return f"{rule.code} {rule.message}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        rule = self.fake._take_failure("DATA", None)
        if rule is not None:
            if rule.hold:
                await asyncio.sleep(rule.hold)
            return f"{rule.code} {rule.message}"
        try:
            self.fake._deliver(envelope, session)
        except Exception as exc:
            self.fake.server_errors.append(f"{type(exc).__name__}: {exc}")
            return "451 4.3.0 fake SMTP could not parse the message"
        return "250 Message accepted for delivery"


class FakeSMTP:
    name = "fake_smtp"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        username: str | None = None,
        password: str | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        """With ``username``/``password`` the server advertises AUTH (PLAIN, LOGIN, no TLS)
        and requires it; otherwise no AUTH."""
        self.host = host
        self.username = username
        self.password = password
        self.now = now
        self.lock = threading.RLock()
        self._mail: Inbox[MailRecord] = Inbox(self.lock)
        self._failures: list[SmtpFailure] = []
        self._controller: _Controller | None = None
        self.server_errors: list[str] = []
        self.logins: list[str] = []
        self.allow_unexpected = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._controller is not None:
            return self
        kwargs: dict[str, Any] = {}
        if self.username is not None:
            # AUTH is enforced in handle_MAIL: aiosmtpd's auth_required warns without TLS.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller = _Controller(
            _Handler(self),
            hostname=self.host,
            port=0,
            server_hostname="fake-smtp.test",
            ready_timeout=5.0,
            **kwargs,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def drain(self) -> None:
        """Nothing runs in the background; present for symmetry with the HTTP fakes."""

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("fake_smtp is not started")
        return int(self._controller.port)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    # -- server side -------------------------------------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        ok = (
            login == self.username
            and auth_data.password.decode("utf-8", "replace") == self.password
        )
        if not ok:
            return AuthResult(success=False, handled=False)  # aiosmtpd answers 535
        with self.lock:
            self.logins.append(login)
        return AuthResult(success=True, auth_data=auth_data)

    def _deliver(self, envelope: Envelope, session: Session) -> None:
        raw = envelope.original_content or (
            envelope.content
            if isinstance(envelope.content, bytes)
            else str(envelope.content or "").encode("utf-8")
        )
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        text_part = message.get_body(("plain",))
        html_part = message.get_body(("html",))
        auth = session.auth_data
        login = auth.login.decode("utf-8", "replace") if isinstance(auth, LoginPassword) else None
        header_to = [a for _, a in getaddresses([str(v) for v in message.get_all("To", [])])]
        header_cc = [a for _, a in getaddresses([str(v) for v in message.get_all("Cc", [])])]
        for rcpt in envelope.rcpt_tos:
            self._mail.add(
                MailRecord(
                    rcpt=rcpt,
                    mail_from=str(envelope.mail_from or ""),
                    rcpt_tos=list(envelope.rcpt_tos),
                    from_=str(message.get("From", "")),
                    to=header_to,
                    cc=header_cc,
                    subject=str(message.get("Subject", "")),
                    text=text_part.get_content() if text_part is not None else "",
                    html=html_part.get_content() if html_part is not None else "",
                    message=message,
                    raw=raw,
                    auth_login=login,
                    received_at=self.now(),
                )
            )

    # -- failure injection -------------------------------------------------------------------

    def fail_next(
        self,
        code: int = 451,
        message: str = "4.3.0 Try again later",
        *,
        times: int | None = 1,
        stage: str = "DATA",
        rcpt: str | None = None,
    ) -> SmtpFailure:
        """Answer the next ``times`` RCPT (optionally for one address) or DATA with ``code``.

        4xx codes are temporary (smtplib raises SMTPDataError / SMTPRecipientsRefused),
        5xx permanent, e.g. ``fail_next(550, "5.1.1 No such user", stage="RCPT")``.
        """
        if stage not in ("RCPT", "DATA"):
            raise ValueError("stage is 'RCPT' or 'DATA'")
        rule = SmtpFailure(stage, code, message, rcpt, times)
        with self.lock:
            self._failures.append(rule)
        return rule

    def hold_next(self, seconds: float, *, times: int | None = 1) -> SmtpFailure:
        """Sit on the next ``times`` DATA commands for ``seconds``, then answer 451: a send
        in progress for as long as a test needs, e.g. to kill the sender in the middle."""
        rule = SmtpFailure("DATA", 451, "4.3.0 Held by the test", None, times, hold=seconds)
        with self.lock:
            self._failures.append(rule)
        return rule

    def _take_failure(self, stage: str, rcpt: str | None) -> SmtpFailure | None:
        with self.lock:
            for rule in self._failures:
                if rule.stage != stage or rule.rcpt not in (None, rcpt):
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._failures.remove(rule)
                return rule
        return None

    # -- expectations ------------------------------------------------------------------------

    @property
    def messages(self) -> list[MailRecord]:
        return self._mail.all()

    def mailbox(self, address: str) -> FakeMailbox:
        return FakeMailbox(self, address)

    async def expect_mail(
        self,
        to: str | None = None,
        contains: Contains = None,
        *,
        subject: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> MailRecord:
        """Wait for mail to ``to`` (envelope recipient, case-insensitive) matching ``contains``
        (subject, text or HTML) and ``subject``; consume it."""

        def mine(r: MailRecord) -> bool:
            return to is None or r.rcpt.lower() == to.lower()

        return await self._mail.expect(
            lambda r: (
                mine(r) and text_matches(r.all_text, contains) and text_matches(r.subject, subject)
            ),
            timeout=timeout,
            what=f"mail to {to or 'anyone'} {describe_contains(contains)}"
            + (f" with subject {describe_contains(subject)}" if subject is not None else ""),
            scope=mine,
        )

    def assert_no_unexpected(self) -> None:
        problems = [f"unexpected {r.describe()}" for r in self._mail.unconsumed()]
        problems += [f"fake server error: {e}" for e in self.server_errors]
        raise_problems("fake_smtp: unexpected mail", problems)

    def assert_nothing_sent(self) -> None:
        """Fail if mail exists that no expectation consumed (an immediate check: bring the
        sender to rest first)."""
        self._mail.check_none_unconsumed("fake_smtp")


class FakeMailbox:
    def __init__(self, fake: FakeSMTP, address: str) -> None:
        self.fake = fake
        self.address = address

    async def expect_mail(
        self,
        contains: Contains = None,
        *,
        subject: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> MailRecord:
        return await self.fake.expect_mail(self.address, contains, subject=subject, timeout=timeout)

    def assert_no_unexpected(self) -> None:
        self.fake._mail.check_none_unconsumed(
            f"mailbox {self.address}", lambda r: r.rcpt.lower() == self.address.lower()
        )
