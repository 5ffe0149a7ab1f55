"""Pager load (``/pager-load``): per person and per team over a window, the responder hours of
business hours, evenings, nights and weekends in each person's own zone, and the Dev vs Ops
share of on-call hours. The figures are the API's load report (``GET /api/v1/oncall/load``, with
``team_id`` for a team's schedules); the page draws them with Chart.js and lists them in tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.core.errors import InvalidInput
from app.core.session import ClockDep, DbSession
from app.schedules import oncall_queries
from app.schedules.schemas import LoadOut
from app.web.auth import WebReader
from app.web.listing import all_teams
from app.web.templating import render

router = APIRouter()

DEFAULT_WINDOW = timedelta(days=30)
CATEGORIES = (
    ("business_hours", "Business hours"),
    ("evening_hours", "Evenings"),
    ("night_hours", "Nights"),
    ("weekend_hours", "Weekends"),
)

WindowEdge = Annotated[str | None, Query(max_length=40)]


def _edge(text: str, zone: ZoneInfo, *, field: str, is_end: bool) -> datetime:
    """A window edge from the form: a day in the viewer's zone (an end day is included whole)
    or an instant with a UTC offset."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1 if is_end else 0), time(0), zone)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field}: a day like 2026-03-01 or an instant like 2026-03-01T09:00:00Z",
            field=f"query.{field}",
        ) from None
    if instant.tzinfo is None:
        raise InvalidInput(
            f"{field} needs a time zone offset, e.g. 2026-03-01T09:00:00Z", field=f"query.{field}"
        )
    return instant


@dataclass(frozen=True)
class TeamLoad:
    team_id: int
    name: str
    kind: str
    report: LoadOut

    def hours(self, category: str) -> float:
        return sum(getattr(person, category) for person in self.report.people)


def _bars(labels: list[str], rows: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "labels": labels,
        "series": [
            {"key": key, "label": label, "values": [row[key] for row in rows]}
            for key, label in CATEGORIES
        ],
    }


@router.get("/pager-load")
async def pager_load_page(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    clock: ClockDep,
    from_: Annotated[WindowEdge, Query(alias="from")] = None,
    to: WindowEdge = None,
) -> HTMLResponse:
    zone = ZoneInfo(signed_in.viewer.time_zone)
    now = clock.now()
    end = _edge(to, zone, field="to", is_end=True) if to else now
    start = _edge(from_, zone, field="from", is_end=False) if from_ else end - DEFAULT_WINDOW
    everyone, by_team = await oncall_queries.pager_load_by_team(session, start, end)
    teams = await all_teams(session)
    team_loads = [
        TeamLoad(team.id, team.name, team.kind.value, by_team[team.id])
        for team in teams
        if team.id in by_team
    ]
    people = sorted(everyone.people, key=lambda p: p.name.lower())
    chart = {
        "people": _bars(
            [p.name for p in people],
            [{key: getattr(p, key) for key, _ in CATEGORIES} for p in people],
        ),
        "teams": _bars(
            [t.name for t in team_loads],
            [{key: t.hours(key) for key, _ in CATEGORIES} for t in team_loads],
        ),
        "share": {
            "labels": ["Dev", "Ops", "Mixed"],
            "values": [everyone.dev_share, everyone.ops_share, everyone.mixed_share],
        },
    }
    local_end = end.astimezone(zone)
    # An end at a local midnight is the day before, included whole (as the form takes it).
    last_day = (local_end - timedelta(microseconds=1)).date()
    return render(
        request,
        "pager_load/load.html",
        {
            "report": everyone,
            "people": people,
            "teams": team_loads,
            "categories": CATEGORIES,
            "chart": chart,
            "start": start,
            "end": end,
            "from_day": start.astimezone(zone).date().isoformat(),
            "to_day": last_day.isoformat(),
        },
    )
