"""Who runs a Slack command, who it mentions, and which incident it is about.

Shared by the command modules. Network calls (Slack profiles) happen outside transactions;
everything else runs in short transactions of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.errors import NotFound
from app.core.textsearch import starts_with_text
from app.incidents.models import Incident, IncidentState, Page
from app.incidents.timeline import Channel
from app.integrations.slack import linking
from app.integrations.slack.commands import EmailMention, Invocation, Mention, SlackMention
from app.integrations.slack.interactions import SlackContext
from app.notify.base import MessageKind
from app.notify.models import Notification
from app.people import service as people
from app.people.models import User

LINK_HELP = (
    "Baton does not know who you are yet, so nothing was done. Run `/baton link`: it matches "
    "the e-mail address of your Slack profile to your Baton user. If the addresses differ, ask "
    "a Baton admin to link you (PUT /api/v1/users/<your id>/slack-link)."
)


class Refusal(Exception):
    """A command that cannot go ahead; the text tells the person why. Nothing was changed."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class CommandRequest:
    """One slash command, from the fields Slack posts."""

    command: str
    text: str
    team_id: str
    channel_id: str
    user_id: str
    response_url: str
    trigger_id: str
    # Not sent by Slack today for slash commands; honoured when present (a thread's commands).
    thread_ts: str = ""

    @classmethod
    def from_form(cls, fields: Mapping[str, str]) -> CommandRequest:
        return cls(
            command=fields.get("command", "").strip(),
            text=fields.get("text", ""),
            team_id=fields.get("team_id", "").strip(),
            channel_id=fields.get("channel_id", "").strip(),
            user_id=fields.get("user_id", "").strip(),
            response_url=fields.get("response_url", "").strip(),
            trigger_id=fields.get("trigger_id", "").strip(),
            thread_ts=fields.get("thread_ts", "").strip(),
        )

    @property
    def problems(self) -> list[str]:
        """What a well-formed command has and this one lacks."""
        missing = [name for name in ("command", "user_id", "team_id") if not getattr(self, name)]
        return [f"the field `{name}` is missing" for name in missing]


@dataclass(frozen=True)
class Call:
    """A command being run by a linked Baton user."""

    ctx: SlackContext
    request: CommandRequest
    invocation: Invocation
    user_id: int

    async def principal(self, session: AsyncSession) -> Principal:
        return await principal_of(session, self.user_id)


async def principal_of(session: AsyncSession, user_id: int) -> Principal:
    """The Baton user acting from Slack, with their rights; the timeline records ``slack``."""
    principal = await people.principal_for_user(session, user_id, channel=Channel.SLACK)
    if principal is None:
        raise Refusal("Your Baton user no longer exists, so nothing was done.")
    return principal


async def baton_user_of(ctx: SlackContext, team_id: str, slack_user_id: str) -> int | None:
    """The Baton user behind a Slack user (linking by e-mail on first sight, when possible)."""
    if not slack_user_id:
        return None
    if ctx.api is None:
        async with ctx.db.transaction() as session:
            return await linking.linked_user_id(session, team_id, slack_user_id)
    return await linking.resolve_user(ctx.db, ctx.api, team_id, slack_user_id)


async def mentioned_user(ctx: SlackContext, team_id: str, mention: Mention) -> User:
    """The Baton user a mention names; a Refusal that says so when there is none."""
    if isinstance(mention, SlackMention):
        user_id = await baton_user_of(ctx, team_id, mention.slack_user_id)
        label = f"<@{mention.slack_user_id}>"
    else:
        assert isinstance(mention, EmailMention)
        async with ctx.db.transaction() as session:
            found = await people.get_user_by_email(session, mention.email)
        user_id = found.id if found is not None else None
        label = mention.email
    if user_id is None:
        raise Refusal(
            f"{label} is not linked to a Baton user, so nothing was done. They can run "
            "`/baton link` (it matches their Slack e-mail to their Baton user), or a Baton "
            "admin can link them."
        )
    async with ctx.db.transaction() as session:
        user = await session.get(User, user_id)
    if user is None:
        raise Refusal(f"{label}'s Baton user no longer exists, so nothing was done.")
    return user


# ------------------------------------------------------------------ which incident is meant


async def _posted_here(session: AsyncSession, channel_id: str, thread_ts: str) -> list[int]:
    """Open incidents with a page Baton posted in this channel (or as this thread's parent)."""
    if not channel_id:
        return []
    where = (
        Notification.provider_message_id == f"{channel_id}:{thread_ts}"
        if thread_ts
        else starts_with_text(Notification.provider_message_id, f"{channel_id}:")
    )
    rows = await session.scalars(
        select(Notification.incident_id)
        .join(Incident, Incident.id == Notification.incident_id)
        .where(
            where,
            Notification.kind == MessageKind.PAGE,
            Incident.state != IncidentState.RESOLVED,
        )
        .order_by(Notification.id.desc())
        .limit(50)
    )
    return [i for i in dict.fromkeys(rows) if i is not None]


async def latest_open_page(session: AsyncSession, user_id: int) -> int | None:
    return await session.scalar(
        select(Page.incident_id)
        .join(Incident, Incident.id == Page.incident_id)
        .where(Page.user_id == user_id, Incident.state != IncidentState.RESOLVED)
        .order_by(Page.paged_at.desc(), Page.id.desc())
        .limit(1)
    )


async def incident_meant(call: Call, explicit: int | None) -> int:
    """The incident a command is about when it names none.

    In order: the id given; the incident of the thread the command was typed in; the only open
    incident Baton posted in this channel; among several posted here, the caller's latest page
    if it is one of them; outside incident channels, the caller's latest open page.
    """
    if explicit is not None:
        return explicit
    request = call.request
    async with call.ctx.db.transaction() as session:
        if request.thread_ts:
            in_thread = await _posted_here(session, request.channel_id, request.thread_ts)
            if in_thread:
                return in_thread[0]
        here = await _posted_here(session, request.channel_id, "")
        latest = await latest_open_page(session, call.user_id)
    if len(here) == 1:
        return here[0]
    if here and latest in here:
        return latest  # type: ignore[return-value]
    if here:
        shown = ", ".join(f"#{i}" for i in here[:5])
        raise Refusal(
            f"Several open incidents were posted here ({shown}): name one, e.g. `#{here[0]}`."
        )
    if latest is None:
        raise Refusal("You have no open page to act on. Name the incident, e.g. `/baton ack #123`.")
    return latest


async def incident_title(session: AsyncSession, incident_id: int) -> str:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident #{incident_id} does not exist")
    return incident.title
