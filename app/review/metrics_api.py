"""Metrics over HTTP: a window's figures per service, team and person, as JSON or CSV."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from app.core.auth import Reader
from app.core.schemas import Id, Instant
from app.core.session import ClockDep, DbSession
from app.review import metrics, metrics_queries

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])

DEFAULT_WINDOW = timedelta(days=30)
When = Annotated[Instant | None, Query(description="An instant with a UTC offset.")]
Format = Annotated[
    Literal["json", "csv"], Query(alias="format", description="csv: one metric per row.")
]


def _window(
    now: datetime, since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime]:
    end = until or now
    return since or end - DEFAULT_WINDOW, end


@router.get("/services/{service_id}", response_model=metrics.ServiceReport)
async def service_metrics(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    service_id: Id,
    since: When = None,
    until: When = None,
    output: Format = "json",
) -> Any:
    """Incidents, MTTA/MTTR, escalations, flapping, noisiest alerts and DORA with bands over
    the window (default: the last 30 days)."""
    report = await metrics_queries.service_report(
        session, service_id, *_window(clock.now(), since, until)
    )
    return _answer(report, output, f"service-{service_id}")


@router.get("/teams/{team_id}", response_model=metrics.TeamReport)
async def team_metrics(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    team_id: Id,
    since: When = None,
    until: When = None,
    output: Format = "json",
) -> Any:
    """The team's services' figures and its pager load per person."""
    report = await metrics_queries.team_report(
        session, team_id, *_window(clock.now(), since, until)
    )
    return _answer(report, output, f"team-{team_id}")


@router.get("/people/{user_id}", response_model=metrics.PersonReport)
async def person_metrics(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    user_id: Id,
    since: When = None,
    until: When = None,
    output: Format = "json",
) -> Any:
    """A person's pager load (interruptions by channel and hour of their day, pages per shift,
    time on call) and the incidents they were paged for."""
    report = await metrics_queries.person_report(
        session, user_id, *_window(clock.now(), since, until)
    )
    return _answer(report, output, f"person-{user_id}")


def _answer(report: Any, output: str, name: str) -> Any:
    if output == "json":
        return report
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["metric", "value"])
    writer.writerows(flatten(report))
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="metrics-{name}.csv"'},
    )


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted.name, text)`` for every leaf of a report: lists by index, None as empty."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from flatten(getattr(value, f.name), f"{prefix}{f.name}.")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}{key}.")
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}{index}.")
    else:
        yield prefix.removesuffix("."), _text(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)
