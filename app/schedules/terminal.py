"""Plain-text answers for the terminal: ``baton oncall``."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.schedules import oncall_queries, schemas, service


class UnknownSchedule(LookupError):
    pass


def parse_instant(text: str) -> datetime:
    """ISO 8601; without an offset the time is UTC (a terminal has no schedule zone)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time such as 2026-03-08T09:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _schedule_ids(session: AsyncSession, ref: str | None) -> list[int] | None:
    if ref is None:
        return None
    found = await service.get_schedule_by_name(session, ref)
    if found is None and ref.isdigit():
        found = await session.get(service.Schedule, int(ref))
    if found is None:
        raise UnknownSchedule(f"no schedule named {ref!r}")
    return [found.id]


def _when(instant: datetime, zone: str) -> str:
    local = instant.astimezone(ZoneInfo(zone))
    return f"{instant:%Y-%m-%d %H:%M} UTC ({local:%a %d %b %H:%M} {zone})"


def _person(item: schemas.AssignmentOut) -> str:
    chain = "".join(f", covering {step.name} ({step.source_name})" for step in item.covering)
    return f"{item.name} <{item.email}>  [{item.source_name}{chain}]"


def format_answer(answer: schemas.OnCallOut) -> str:
    lines = [f"{answer.schedule_name} ({answer.time_zone})"]
    if not answer.responders:
        lines.append("  nobody is on call")
    for item in answer.responders:
        lines.append(f"  on call  {_person(item)}")
    for item in answer.shadows:
        lines.append(f"  shadow   {_person(item)}")
    if answer.until is not None:
        lines.append(f"  until    {_when(answer.until, answer.time_zone)}")
        following = ", ".join(i.name for i in answer.next_responders) or "nobody"
        lines.append(f"  next     {following}")
    elif answer.responders:
        lines.append("  until    no hand-off scheduled")
    return "\n".join(lines)


async def oncall_report(session: AsyncSession, ref: str | None, at: datetime) -> str:
    found = await oncall_queries.who_is_on_call(session, await _schedule_ids(session, ref), at)
    header = f"On call at {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if not found:
        return f"{header}: there are no schedules yet"
    return "\n\n".join([header, *(format_answer(a) for a in found)])
