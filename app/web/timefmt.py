"""Instants as a person reads them: in their own zone with the zone named, or relative to now.

Pure: the caller passes the zone and the current instant (the request's clock).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def zone(name: str | None) -> ZoneInfo:
    """The named IANA zone; UTC for none or one this machine does not know."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_label(local: datetime, zone_name: str) -> str:
    """The zone's abbreviation where it has a real one ("CET", "EDT"), else its IANA name:
    many zones only have a numeric one ("-03"), which names nothing."""
    abbreviation = local.tzname() or ""
    return abbreviation if abbreviation.isalpha() else zone_name


def local_time(
    instant: datetime, zone_name: str | None, now: datetime, *, with_date: bool = True
) -> str:
    """``Thu 2 Mar 09:00 CET``; the year is added when it is not the current one."""
    tz = zone(zone_name)
    local = instant.astimezone(tz)
    clock = f"{local.hour:02d}:{local.minute:02d} {zone_label(local, tz.key)}"
    if not with_date:
        return clock
    day = f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}"
    if local.year != now.astimezone(tz).year:
        day += f" {local.year}"
    return f"{day} {clock}"


# (limit in seconds, unit in seconds, unit name): the first row whose limit the distance is
# under gives the unit it is counted in.
_UNITS = (
    (45 * 60, 60, "minute"),
    (22 * 3600, 3600, "hour"),
    (26 * 86400, 86400, "day"),
    (320 * 86400, 30 * 86400, "month"),
)
_YEAR = 365 * 86400


def relative_time(instant: datetime, now: datetime) -> str:
    """``in 3 hours``, ``5 minutes ago``, ``just now``."""
    seconds = (instant.astimezone(UTC) - now.astimezone(UTC)).total_seconds()
    distance = abs(seconds)
    if distance < 45:
        return "just now"
    unit, name = next(
        ((unit, name) for limit, unit, name in _UNITS if distance < limit), (_YEAR, "year")
    )
    count = max(1, int(distance / unit + 0.5))
    amount = f"{count} {name}{'' if count == 1 else 's'}"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"
