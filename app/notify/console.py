"""The console provider: the embedded default prints every message and keeps the latest ones.

With no credentials configured this is what pages people, so a demo is complete and a test can
read exactly what would have been sent. Verification codes are printed only where asked
(development): a production or CI console is read by more people than the code's owner.
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
    ) -> None:
        self._clock = clock
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
        stream.write(
            f"[baton page] {at} {message.kind} -> {message.contact_type}:{message.address}"
            f" | {subject} | {text}\n"
        )
        stream.flush()
        return DeliveryResult(DeliveryStatus.SENT, self.name, provider_message_id=record_id)
