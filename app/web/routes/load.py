"""What the pager costs, over a window: a team's (``/teams/{id}/load``) and a person's
(``/people/{id}/load``). Interruptions (notifications that reached someone) by channel and by the
hour of their own day (business hours, evenings, nights, weekends), pages per 12-hour shift
against the SRE ceiling of 2, time on call against the ceiling of 25 %, and the Dev and Ops
shares of pages and on-call hours.

The figures are the metrics API's (``app.review.metrics_queries.team_report`` and
``person_report``); the window and the words are the health page's (``routes/health.py``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.core.session import ClockDep, DbSession
from app.people import service as people_service
from app.review import metrics, metrics_queries
from app.web.auth import WebReader
from app.web.routes.health import WORDS, DaysQuery, chart, series_charts, window_of
from app.web.templating import render

router = APIRouter()

# The hour of a person's own day an interruption came in, as the metrics count them.
SPLIT = (
    ("business", "Business hours"),
    ("evening", "Evenings"),
    ("night", "Nights (sleep hours)"),
    ("weekend", "Weekends"),
)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _share_values(*shares: float | None) -> list[float | None]:
    return [None if s is None else round(s * 100, 1) for s in shares]


def team_charts(load: metrics.LoadStats) -> list[dict[str, Any]]:
    people = sorted(load.people, key=lambda p: p.name.lower())
    names = [p.name for p in people]
    channels: Counter[str] = Counter()
    for person in people:
        channels.update(person.by_channel)
    ordered = sorted(channels)
    return [
        chart(
            "team-channels-chart",
            "bar",
            ordered,
            [("Interruptions", [float(channels[c]) for c in ordered])],
            unit="interruptions",
        ),
        chart(
            "team-split-chart",
            "bar",
            names,
            [(label, [float(getattr(p, key)) for p in people]) for key, label in SPLIT],
            unit="interruptions",
            stacked=True,
            horizontal=True,
        ),
        chart(
            "team-per-shift-chart",
            "bar",
            names,
            [
                (
                    "Pages per 12-hour shift",
                    [
                        None if p.pages_per_shift is None else round(p.pages_per_shift, 2)
                        for p in people
                    ],
                )
            ],
            unit="pages",
            horizontal=True,
        ),
        chart(
            "team-on-call-chart",
            "bar",
            names,
            [("Time on call", [round(p.on_call_share * 100, 1) for p in people])],
            unit="%",
            horizontal=True,
        ),
        chart(
            "team-share-chart",
            "doughnut",
            ["Dev", "Ops", "Mixed"],
            [
                (
                    "Share of pages",
                    _share_values(
                        load.dev_share_of_pages, load.ops_share_of_pages, load.mixed_share_of_pages
                    ),
                )
            ],
            unit="%",
        ),
    ]


def person_charts(load: metrics.PersonLoad) -> list[dict[str, Any]]:
    channels = sorted(load.by_channel)
    return [
        chart(
            "person-channels-chart",
            "bar",
            channels,
            [("Interruptions", [float(load.by_channel[c]) for c in channels])],
            unit="interruptions",
        ),
        chart(
            "person-split-chart",
            "doughnut",
            [label for _, label in SPLIT],
            [("Interruptions", [float(getattr(load, key)) for key, _ in SPLIT])],
            unit="interruptions",
        ),
    ]


def _channel_totals(load: metrics.LoadStats) -> list[tuple[str, int]]:
    channels: Counter[str] = Counter()
    for person in load.people:
        channels.update(person.by_channel)
    return sorted(channels.items())


@router.get("/teams/{team_id}/load")
async def team_load(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    clock: ClockDep,
    team_id: int,
    days: DaysQuery = None,
) -> HTMLResponse:
    window = window_of(days, clock.now())
    team = await people_service.get_team(session, team_id)
    report = await metrics_queries.team_report(session, team_id, window.since, window.until)
    return render(
        request,
        "load/team.html",
        {
            "team": team,
            "report": report,
            "load": report.load,
            "people": sorted(report.load.people, key=lambda p: p.name.lower()),
            "channels": _channel_totals(report.load),
            "split": SPLIT,
            "window": window,
            "charts": team_charts(report.load) + series_charts(report.series, "team"),
            **WORDS,
        },
    )


@router.get("/people/{user_id}/load")
async def person_load(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    clock: ClockDep,
    user_id: int,
    days: DaysQuery = None,
) -> HTMLResponse:
    window = window_of(days, clock.now())
    person = await people_service.get_user(session, user_id)
    report = await metrics_queries.person_report(session, user_id, window.since, window.until)
    return render(
        request,
        "load/person.html",
        {
            "person": person,
            "report": report,
            "load": report.load,
            "split": SPLIT,
            "window": window,
            "charts": person_charts(report.load) + series_charts(report.series, "person"),
            "ceiling_pages": metrics.PAGES_PER_SHIFT_CEILING,
            "ceiling_share": metrics.ON_CALL_SHARE_CEILING,
            **WORDS,
        },
    )
