"""``baton apply`` for Slack announcements: the ``slack:`` key of a schedule.

The key sits under the schedule it announces, but the schedules section knows nothing of Slack:
this section is the schedules section with the key added to each schedule, and it applies the
announcements once the schedules exist.
"""

from __future__ import annotations

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.declarative import ApplyReport, ConfigFileError, UnknownReference
from app.core.errors import BatonError
from app.integrations.slack.announce import apply_declared
from app.integrations.slack.schemas import AnnouncementIn
from app.schedules.declarative import ScheduleSpec, SchedulesSection
from app.schedules.service import get_schedule_by_name


class ScheduleWithSlack(ScheduleSpec):
    # Slack announcements (channel posts, user group, topic); absent: left as the API set them.
    slack: AnnouncementIn | None = None


class SchedulesWithSlackSection(SchedulesSection):
    schedules: list[ScheduleWithSlack] = Field(default_factory=list)


async def apply_slack_announcements(
    session: AsyncSession, section: SchedulesWithSlackSection, report: ApplyReport, *, prune: bool
) -> None:
    """Announcements are only ever set from the file, never removed: ``prune`` changes nothing."""
    for spec in section.schedules:
        if spec.slack is None:
            continue
        schedule = await get_schedule_by_name(session, spec.name)
        if schedule is None:
            raise UnknownReference(f"schedule {spec.name} does not exist")
        try:
            await apply_declared(session, schedule, spec.slack, report)
        except BatonError as exc:
            raise ConfigFileError(f"schedule {spec.name}: {exc.detail}") from None
