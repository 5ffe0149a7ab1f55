"""iCalendar (RFC 5545) rendering of shifts, made with the ``icalendar`` library.

Pure: the caller supplies the shifts, names and the stamp instant. Every event's UID is derived
from what identifies the shift (schedule, person, role, source and start), so calendar apps
update events in place when they poll again instead of duplicating them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

PRODUCT_ID = "-//Baton//On-call schedules//EN"
# Calendar apps poll at their own pace; this is a hint for the ones that honour it.
REFRESH_INTERVAL = timedelta(hours=1)


@dataclass(frozen=True)
class FeedShift:
    schedule_id: int
    schedule_name: str
    user_id: int
    user_name: str
    start: datetime
    end: datetime
    shadow: bool
    source_kind: str
    source_id: int
    source_name: str


def shift_uid(shift: FeedShift) -> str:
    identity = ":".join(
        (
            str(shift.schedule_id),
            str(shift.user_id),
            "shadow" if shift.shadow else "responder",
            shift.source_kind,
            str(shift.source_id),
            shift.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"),
        )
    )
    return f"{hashlib.sha256(identity.encode()).hexdigest()[:32]}@baton"


def summary(shift: FeedShift, *, with_person: bool) -> str:
    role = "Shadowing" if shift.shadow else "On call"
    text = f"{role}: {shift.schedule_name}"
    return f"{text} ({shift.user_name})" if with_person else text


def _event(shift: FeedShift, stamp: datetime, *, with_person: bool) -> Event:
    event = Event()
    event.add("uid", shift_uid(shift))
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", shift.start.astimezone(UTC))
    event.add("dtend", shift.end.astimezone(UTC))
    event.add("summary", summary(shift, with_person=with_person))
    via = (
        f"layer {shift.source_name}"
        if shift.source_kind == "layer"
        else f"override {shift.source_id}"
    )
    event.add(
        "description",
        f"{shift.user_name} {'shadows' if shift.shadow else 'is on call for'} "
        f"{shift.schedule_name} ({via}).",
    )
    event.add("transp", "TRANSPARENT")  # being on call does not make someone busy
    event.add("x-baton-schedule-id", str(shift.schedule_id))
    event.add("x-baton-user-id", str(shift.user_id))
    return event


def render_calendar(
    name: str, shifts: Iterable[FeedShift], *, stamp: datetime, with_person: bool
) -> bytes:
    """A VCALENDAR with one VEVENT per shift; times are UTC (``...Z``)."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-published-ttl", "PT1H")
    calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    for shift in shifts:
        calendar.add_component(_event(shift, stamp, with_person=with_person))
    return calendar.to_ical()
