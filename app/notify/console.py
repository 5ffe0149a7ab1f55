"""The console provider: the embedded default prints every message and keeps the latest ones.

With no credentials configured this is what pages people, so a demo is complete and a test can
read exactly what would have been sent.
"""

from __future__ import annotations

import itertools
import sys
from collections import deque
from dataclasses import dataclass
from typing import TextIO

from app.core.clock import Clock
from app.notify.base import DeliveryResult, DeliveryStatus, OutboundMessage


@dataclass(frozen=True)
class ConsoleRecord:
    id: str
    message: OutboundMessage
    at: str


class ConsoleProvider:
    name = "console"

    def __init__(self, clock: Clock, stream: TextIO | None = None, keep: int = 500) -> None:
        self._clock = clock
        self._stream = stream
        self._counter = itertools.count(1)
        self.sent: deque[ConsoleRecord] = deque(maxlen=keep)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        record_id = f"console-{next(self._counter)}"
        at = self._clock.now().isoformat(timespec="seconds")
        self.sent.append(ConsoleRecord(record_id, message, at))
        stream = self._stream or sys.stdout
        stream.write(
            f"[baton page] {at} {message.kind} -> {message.contact_type}:{message.address}"
            f" | {message.subject} | {message.text}\n"
        )
        stream.flush()
        return DeliveryResult(DeliveryStatus.SENT, self.name, provider_message_id=record_id)
