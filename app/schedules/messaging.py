"""How the schedules tell a person something: shift reminders, cover requests and their answers.

The message is queued in the caller's transaction and leaves after it commits, on the person's
preferred channel. Queuing it is notify's work, and notify sits above the schedules (it pages the
people they put on call), so the schedules name what they need here and ``app.wiring.wire``
installs notify's outbox at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.hooks import Hook

# The kinds of notify's messages that the schedules send.
MessageKind = Literal["info", "reminder"]


class Teller(Protocol):
    async def __call__(
        self,
        session: AsyncSession,
        user_id: int,
        *,
        subject: str,
        text: str,
        kind: MessageKind,
        context: Mapping[str, object],
    ) -> None: ...


TELLER: Hook[Teller] = Hook("the schedules' messages")


async def tell(
    session: AsyncSession,
    user_id: int,
    *,
    subject: str,
    text: str,
    kind: MessageKind = "info",
    context: Mapping[str, object],
) -> None:
    await TELLER.call(session, user_id, subject=subject, text=text, kind=kind, context=context)
