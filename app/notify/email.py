"""E-mail through SMTP with the standard library: a plain-text and an HTML part, and a link.

``smtplib`` blocks, so each message is sent from a worker thread. Unlike an SMS, a duplicate
e-mail is cheap, so a timeout is retried like any temporary failure.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from app.core.clock import Clock
from app.notify import messages
from app.notify.base import DeliveryResult, DeliveryStatus, MessageKind, OutboundMessage


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    public_url: str
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = True
    use_ssl: bool = False
    timeout: float = 15.0


class SmtpRefused(Exception):
    def __init__(self, detail: str, *, temporary: bool, unusable: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.temporary = temporary
        self.unusable = unusable


class EmailProvider:
    name = "email"

    def __init__(self, config: SmtpConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        mail = self.compose(message)
        try:
            await asyncio.to_thread(self._deliver, mail, message.address)
        except SmtpRefused as exc:
            return DeliveryResult(
                DeliveryStatus.TEMPORARY_FAILURE
                if exc.temporary
                else DeliveryStatus.PERMANENT_FAILURE,
                self.name,
                detail=exc.detail,
                contact_method_unusable=exc.unusable,
            )
        return DeliveryResult(
            DeliveryStatus.SENT, self.name, provider_message_id=mail["Message-ID"]
        )

    # --------------------------------------------------------------------------- composing

    def link(self, context: Mapping[str, Any]) -> str | None:
        path = context.get("path")
        return f"{self.config.public_url}{path}" if path else None

    def compose(self, message: OutboundMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = " ".join(message.subject.split())[:250]
        mail["From"] = self.config.sender
        mail["To"] = message.address
        mail["Date"] = format_datetime(self.clock.now())
        domain = parseaddr(self.config.sender)[1].partition("@")[2] or "baton.local"
        mail["Message-ID"] = make_msgid("baton", domain=domain)
        if "incident_id" in message.context:
            mail["X-Baton-Incident"] = str(message.context["incident_id"])
        facts = _facts(message)
        link = self.link(message.context)
        mail.set_content(_text_body(message.text, facts, link))
        mail.add_alternative(_html_body(message.subject, message.text, facts, link), subtype="html")
        return mail

    # ---------------------------------------------------------------------------- sending

    def _deliver(self, mail: EmailMessage, address: str) -> None:
        config = self.config
        try:
            smtp: smtplib.SMTP
            if config.use_ssl:
                smtp = smtplib.SMTP_SSL(
                    config.host,
                    config.port,
                    timeout=config.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            with smtp:
                if config.starttls and not config.use_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if config.username:
                    smtp.login(config.username, config.password)
                smtp.send_message(
                    mail, from_addr=parseaddr(config.sender)[1] or None, to_addrs=[address]
                )
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (550, b""))
            raise SmtpRefused(
                f"the mail server refused {address}: {code} {_text(reply)}",
                temporary=400 <= code < 500,
                unusable=code >= 500,
            ) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise SmtpRefused(
                f"the mail server refused the message: {exc.smtp_code} {_text(exc.smtp_error)}",
                temporary=400 <= exc.smtp_code < 500,
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpRefused(f"SMTP login failed ({exc.smtp_code})", temporary=False) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpRefused(f"the mail server does not support {exc}", temporary=False) from None
        except (smtplib.SMTPException, OSError) as exc:  # includes timeouts and refusals
            raise SmtpRefused(
                f"could not deliver to {config.host}:{config.port} ({type(exc).__name__})",
                temporary=True,
            ) from None


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())[:200]


def _facts(message: OutboundMessage) -> list[tuple[str, str]]:
    context = message.context
    if message.kind is MessageKind.SUMMARY:
        services = ", ".join(f"{n} x{c}" for n, c in dict(context.get("services", {})).items())
        ids = ", ".join(f"#{i}" for i in context.get("incident_ids", []))
        return [("Services", services), ("Incidents", ids)]
    if "incident_id" not in context:
        return []
    facts = [
        ("Incident", f"#{context['incident_id']}"),
        ("Service", str(context.get("service", ""))),
        ("Urgency", str(context.get("urgency", ""))),
        ("State", str(context.get("state", ""))),
    ]
    if int(context.get("alert_count") or 0) > 1:
        facts.append(("Alerts", str(context["alert_count"])))
    labels = dict(context.get("labels") or {})
    if labels:
        facts.append(("Labels", ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))))
    if context.get("runbook_url"):
        facts.append(("Runbook", str(context["runbook_url"])))
    if deploy := messages.deploy_line(context):
        # Its own row too, not only in the text: the rollback target, where the eye looks.
        environment = str((context.get("deploy") or {}).get("environment") or "")
        facts.append(("Deploy", deploy + (f", in {environment}" if environment else "")))
    return facts


def _text_body(text: str, facts: list[tuple[str, str]], link: str | None) -> str:
    lines = [text, ""]
    lines += [f"{name}: {value}" for name, value in facts]
    if link:
        lines += ["", f"Open in Baton: {link}"]
    return "\n".join(lines).strip() + "\n"


def _html_body(subject: str, text: str, facts: list[tuple[str, str]], link: str | None) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><th align='left' style='padding-right:12px'>{esc(name)}</th>"
        f"<td>{_maybe_link(value)}</td></tr>"
        for name, value in facts
    )
    button = f"<p><a href='{esc(link, quote=True)}'>Open in Baton</a></p>" if link else ""
    return (
        "<!doctype html><html><body style='font-family:sans-serif'>"
        f"<h2 style='margin:0 0 8px'>{esc(subject)}</h2>"
        # Keeps the text's own line breaks (a weekly digest is a list, an FYI a few lines).
        f"<p style='white-space:pre-wrap'>{esc(text)}</p>"
        f"<table>{rows}</table>{button}</body></html>"
    )


def _maybe_link(value: str) -> str:
    if value.startswith(("https://", "http://")):
        return f"<a href='{html.escape(value, quote=True)}'>{html.escape(value)}</a>"
    return html.escape(value)
