"""What escalation needs from the database, and what it writes there.

Before deciding: who each step of a policy reaches now (:func:`on_call_for`). After: the
assignees and page rows of the people an ``escalated`` or ``paged`` event names, with each
person's ladder, handed to the subscribers (the outbox queues the notifications). Nothing here
decides who is paged or when: that is ``decide.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Service
from app.core.db import insert_ignoring_duplicates, insert_rows
from app.escalation.policy import PolicySnapshot, StepSnapshot
from app.incidents import events
from app.incidents.decide import Audience, OnCall
from app.incidents.models import Incident, IncidentAssignee, Page
from app.incidents.subscribers import Applied, PageWritten
from app.people.ladders import Ladder, ladders_for
from app.people.masking import mask_address
from app.people.models import ContactType, Urgency
from app.schedules import service as schedules


async def on_call_for(session: AsyncSession, policy: PolicySnapshot | None, at: datetime) -> OnCall:
    """Who each step of ``policy`` reaches at ``at``: one look at all its schedules."""
    if policy is None:
        return {}
    schedule_ids = [
        t.schedule_id for s in policy.steps for t in s.targets if t.schedule_id is not None
    ]
    on_call = (
        await schedules.oncall_for_schedules(session, schedule_ids, at) if schedule_ids else {}
    )
    answer: dict[int, Audience] = {}
    for index, step in enumerate(policy.steps):
        responders: list[int] = []
        shadows: list[int] = []
        for target in step.targets:
            if target.kind == "user" and target.user_id is not None:
                responders.append(target.user_id)
            elif target.kind == "schedule" and target.schedule_id is not None:
                found = on_call.get(target.schedule_id)
                if found is not None:
                    responders += [a.user_id for a in found.responders]
                    shadows += [a.user_id for a in found.shadows]
        unique = list(dict.fromkeys(responders))
        answer[index] = Audience(
            responders=tuple(unique),
            shadows=tuple(u for u in dict.fromkeys(shadows) if u not in set(unique)),
            channels=len(step_channels(step)),
        )
    return answer


_TOGETHER = "paging.together"


@dataclass(slots=True)
class _Together:
    ladders: dict[tuple[frozenset[int], Urgency], dict[int, Ladder]] = field(default_factory=dict)
    assignees: list[dict[str, object]] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    # Rows of other tables that name a page of the block (its notifications), by table.
    of_pages: dict[Table, list[tuple[Page, dict[str, Any]]]] = field(default_factory=dict)
    # Told each page's id once it is inserted (rows that go through the session).
    waiting: list[tuple[Page, Callable[[int], None]]] = field(default_factory=list)


@asynccontextmanager
async def paging_together(session: AsyncSession) -> AsyncIterator[None]:
    """Within the block, people's ladders are read once per set of people and urgency, and the
    pages, the rows naming them and the assignees go in with one plain statement per table at
    the end: the incidents one storm opens together page the same people along the same rules,
    and nothing reads those rows back before the commit. The pages stay out of the session."""
    together = _Together()
    session.info[_TOGETHER] = together
    try:
        yield
    finally:
        session.info.pop(_TOGETHER, None)
    if together.pages:
        await _insert_pages(session, together)
    await _assign(session, together.assignees)


async def _insert_pages(session: AsyncSession, together: _Together) -> None:
    connection = await session.connection()
    table = Page.__table__
    ids = await connection.scalars(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [{c: getattr(page, c) for c in _PAGE_COLUMNS} for page in together.pages],
    )
    for page, page_id in zip(together.pages, ids.all(), strict=True):
        page.id = page_id
    for page, tell in together.waiting:
        tell(page.id)
    for rows_table, rows in together.of_pages.items():
        await insert_rows(session, rows_table, [{**row, "page_id": page.id} for page, row in rows])


_PAGE_COLUMNS = (
    "incident_id",
    "user_id",
    "shadow",
    "urgency",
    "paged_at",
    "reason",
    "escalation_step",
    "escalation_loop",
)


def insert_with_page(
    session: AsyncSession, page: Page, table: Table, rows: list[dict[str, Any]]
) -> bool:
    """In a ``paging_together`` block, ``rows`` of ``table`` go in after the block's pages,
    naming ``page`` (their ``page_id`` filled in then); False outside one (add them as usual)."""
    together: _Together | None = session.info.get(_TOGETHER)
    if together is None:
        return False
    if rows:
        together.of_pages.setdefault(table, []).extend((page, row) for row in rows)
    return True


def when_page_inserted(session: AsyncSession, page: Page, tell: Callable[[int], None]) -> None:
    """In a ``paging_together`` block, ``tell`` the page's id once the block inserts it."""
    together: _Together | None = session.info.get(_TOGETHER)
    assert together is not None, "only inside a paging_together block"
    together.waiting.append((page, tell))


async def _assign(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Each paged person becomes an assignee; someone already assigned stays as was."""
    await insert_ignoring_duplicates(
        session, IncidentAssignee.__table__, rows, ["incident_id", "user_id"]
    )


async def _ladders(
    session: AsyncSession, user_ids: list[int], urgency: Urgency
) -> dict[int, Ladder]:
    together: _Together | None = session.info.get(_TOGETHER)
    if together is None:
        return await ladders_for(session, user_ids, urgency)
    key = (frozenset(user_ids), urgency)
    if key not in together.ladders:
        together.ladders[key] = await ladders_for(session, user_ids, urgency)
    return together.ladders[key]


def step_channels(step: StepSnapshot) -> list[tuple[ContactType, str]]:
    """The Slack channels and webhooks a step posts to, once each."""
    found: list[tuple[ContactType, str]] = []
    for target in step.targets:
        if target.kind == "slack_channel" and target.address:
            found.append((ContactType.SLACK, target.address))
        elif target.kind == "webhook" and target.address:
            found.append((ContactType.WEBHOOK, target.address))
    return list(dict.fromkeys(found))


async def carry_out(
    session: AsyncSession,
    incident: Incident,
    service: Service,
    policy: PolicySnapshot | None,
    event: events.Event,
    at: datetime,
) -> Applied:
    """Write what ``event`` puts in the incident's tables; the result goes to subscribers."""
    match event:
        case events.Escalated():
            assert policy is not None  # decide escalates only along a policy
            channels = step_channels(policy.steps[event.step])
            pages, paged = await _page(
                session,
                incident,
                responders=event.responders,
                shadows=event.shadows,
                at=at,
                reason=event.reason,
                step=event.step,
                loop=event.loop,
            )
            # A webhook URL's path often carries a secret, and everyone reads the timeline.
            posted = tuple(
                events.ChannelPosted(contact_type=kind.value, address=mask_address(kind, address))
                for kind, address in channels
            )
            completed = replace(event, paged=paged, channels=posted)
            return Applied(incident, service, completed, at, pages, tuple(channels), event.reason)
        case events.Paged():
            pages, paged = await _page(
                session,
                incident,
                responders=(event.user_id,),
                shadows=(),
                at=at,
                reason=event.reason,
                step=event.step,
                loop=event.loop,
            )
            return Applied(
                incident, service, replace(event, paged=paged), at, pages, (), event.reason
            )
        case events.Reassigned():
            # The people handed from stop being responsible; shadows keep watching.
            if event.from_:
                await session.execute(
                    delete(IncidentAssignee).where(
                        IncidentAssignee.incident_id == incident.id,
                        IncidentAssignee.user_id.in_(list(event.from_)),
                        IncidentAssignee.shadow.is_(False),
                    )
                )
    return Applied(incident, service, event, at)


async def _page(
    session: AsyncSession,
    incident: Incident,
    *,
    responders: tuple[int, ...],
    shadows: tuple[int, ...],
    at: datetime,
    reason: str,
    step: int | None,
    loop: int | None,
) -> tuple[tuple[PageWritten, ...], tuple[events.PersonPaged, ...]]:
    """A page per person, each becoming an assignee (someone already assigned stays as was)."""
    people = [(u, False) for u in responders] + [(u, True) for u in shadows]
    if not people:
        return (), ()
    ladders = await _ladders(session, [u for u, _ in people], Urgency(incident.urgency))
    assignees: list[dict[str, object]] = [
        {"incident_id": incident.id, "user_id": u, "shadow": shadow, "assigned_at": at}
        for u, shadow in people
    ]
    together: _Together | None = session.info.get(_TOGETHER)
    if together is not None:
        together.assignees += assignees
    else:
        await _assign(session, assignees)
    written: list[PageWritten] = []
    paged: list[events.PersonPaged] = []
    for user_id, shadow in people:
        page = Page(
            incident_id=incident.id,
            user_id=user_id,
            shadow=shadow,
            urgency=incident.urgency,
            paged_at=at,
            reason=reason,
            escalation_step=step,
            escalation_loop=loop,
        )
        if together is not None:
            together.pages.append(page)
        else:
            session.add(page)
        ladder = ladders.get(user_id, Ladder(f"user {user_id}", []))
        written.append(PageWritten(page, user_id, shadow, tuple(ladder.targets)))
        paged.append(
            events.PersonPaged(
                user_id=user_id,
                name=ladder.name,
                shadow=shadow,
                contacts=tuple(
                    events.PlannedContact(
                        contact_type=t.contact_type.value, delay_minutes=t.delay_minutes
                    )
                    for t in ladder.targets
                ),
            )
        )
    return tuple(written), tuple(paged)
