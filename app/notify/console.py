"""The console provider: the embedded default prints every message and keeps the latest ones.

With no credentials configured this is what pages people, so a demo is complete and a test can
read exactly what would have been sent; each line ends with the link to the incident (or the
list) that the message is about, as the Slack and e-mail pages carry it. Verification codes
are printed only where asked (development): a production or CI console is read by more people
than the code's owner.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections import deque
from dataclasses import dataclass
from typing import TextIO

from app.core.clock import Clock
from app.notify.base import DeliveryResult, DeliveryStatus, MessageKind, OutboundMessage

_CODE = re.compile(r"\d{4,}")


@dataclass(frozen=True)
class ConsoleRecord:
    id: str
    message: OutboundMessage
    at: str


class ConsoleProvider:
    name = "console"

    def __init__(
        self,
        clock: Clock,
        stream: TextIO | None = None,
        keep: int = 500,
        *,
        show_codes: bool = False,
        public_url: str = "",
    ) -> None:
        self._clock = clock
        self._public_url = public_url.rstrip("/")
        self._stream = stream
        self._show_codes = show_codes
        self._counter = itertools.count(1)
        self.sent: deque[ConsoleRecord] = deque(maxlen=keep)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        record_id = f"console-{next(self._counter)}"
        at = self._clock.now().isoformat(timespec="seconds")
        self.sent.append(ConsoleRecord(record_id, message, at))
        stream = self._stream or sys.stdout
        subject, text = message.subject, message.text
        if message.kind == MessageKind.VERIFICATION and not self._show_codes:
            subject, text = _CODE.sub("******", subject), _CODE.sub("******", text)
        # The page's link, as Slack and e-mail carry it: where the reader opens the incident.
        # Not for verifications: their link is a secret, already in (or masked out of) the text.
        wants_link = self._public_url and message.kind != MessageKind.VERIFICATION
        path = message.context.get("path") if wants_link else None
        link = f" | {self._public_url}{path}" if isinstance(path, str) and path else ""
        stream.write(
            f"[baton page] {at} {message.kind} -> {message.contact_type}:{message.address}"
            f" | {subject} | {text}{link}\n"
        )
        stream.flush()
        return DeliveryResult(DeliveryStatus.SENT, self.name, provider_message_id=record_id)
