from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IntPK


class SmsSender(Base):
    """What Baton remembers about a number texting it: how much nonsense it sent lately.

    After a few messages that are not replies Baton stops answering the number (a bot or a
    stranger must not get an SMS ping-pong going) until a valid reply code arrives.
    """

    __tablename__ = "twilio_sms_senders"

    id: Mapped[IntPK]
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    nonsense_count: Mapped[int] = mapped_column(default=0)
    last_nonsense_at: Mapped[datetime | None]
