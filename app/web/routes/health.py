"""A service's health (``/services/{id}/health``): its incidents over a window (per day, MTTA and
MTTR with their median, p90 and mean, and per week), the escalation rate, flapping, the noisiest
alerts, the share outside business hours, and DORA's four keys with their bands.

The figures are the metrics API's (``app.review.metrics_queries.service_report``, what
``GET /api/v1/metrics/services/{id}`` answers); this module only shapes them for the page and its
charts. The window and the words for durations and shares are shared with the load pages
(``routes/load.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.catalog import service as catalog
from app.core.errors import InvalidInput
from app.core.session import ClockDep, DbSession
from app.people import service as people_service
from app.review import metrics, metrics_queries
from app.web.auth import WebReader
from app.web.templating import render

router = APIRouter()

# The windows the selector offers; anything else is refused rather than silently changed.
WINDOW_DAYS = (7, 30, 90)
DEFAULT_DAYS = 30

# What a figure with nothing to measure shows (no incident acknowledged, no deploy, ...).
NO_VALUE = "\N{EN DASH}"

DaysQuery = Annotated[str | None, Query(max_length=8)]


@dataclass(frozen=True)
class Window:
    days: int
    since: datetime
    until: datetime

    @property
    def choices(self) -> tuple[int, ...]:
        return WINDOW_DAYS


def window_of(days: str | None, now: datetime) -> Window:
    """The last ``days`` days up to now (7, 30 or 90; 30 when not given)."""
    if days in (None, ""):
        chosen = DEFAULT_DAYS
    elif days.isdigit() and int(days) in WINDOW_DAYS:
        chosen = int(days)
    else:
        allowed = ", ".join(str(d) for d in WINDOW_DAYS)
        raise InvalidInput(f"days must be one of {allowed}", field="query.days")
    return Window(chosen, now - timedelta(days=chosen), now)


# ------------------------------------------------------------------------------------- words


def duration_words(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``1 h 20 min``, ``2 d 3 h``; a dash when there is nothing to say."""
    if seconds is None:
        return NO_VALUE
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {rest} min" if rest else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def percent_words(share: float | None) -> str:
    return NO_VALUE if share is None else f"{share * 100:.0f}%"


def minutes_of(seconds: float | None) -> float | None:
    """A chart's value: minutes with one decimal (None stays a gap in the line)."""
    return None if seconds is None else round(seconds / 60, 1)


def day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


def chart(
    canvas: str,
    kind: str,
    labels: list[str],
    series: list[tuple[str, list[float | None]]],
    *,
    unit: str = "",
    stacked: bool = False,
    horizontal: bool = False,
) -> dict[str, Any]:
    """One chart for ``static/metrics_charts.js``: what it draws on which canvas."""
    return {
        "canvas": canvas,
        "kind": kind,
        "labels": labels,
        "series": [{"label": label, "values": values} for label, values in series],
        "unit": unit,
        "stacked": stacked,
        "horizontal": horizontal,
    }


def series_charts(series: metrics.Series, prefix: str) -> list[dict[str, Any]]:
    """Incidents per day, and MTTA/MTTR (medians) per week."""
    weeks = [f"w/c {day_label(w.week_start)}" for w in series.per_week]
    return [
        chart(
            f"{prefix}-per-day-chart",
            "bar",
            [day_label(p.day) for p in series.per_day],
            [("Incidents", [float(p.incidents) for p in series.per_day])],
            unit="incidents",
        ),
        chart(
            f"{prefix}-per-week-chart",
            "line",
            weeks,
            [
                ("MTTA (median)", [minutes_of(w.mtta_median) for w in series.per_week]),
                ("MTTR (median)", [minutes_of(w.mttr_median) for w in series.per_week]),
            ],
            unit="minutes",
        ),
    ]


WORDS = {
    "duration": duration_words,
    "percent": percent_words,
    "day_label": day_label,
}


# ------------------------------------------------------------------------------------ DORA


@dataclass(frozen=True)
class DoraRow:
    name: str
    value: str
    band: str | None
    meaning: str  # what the band's row of the report says


def _report_says(metric: str, band: str | None) -> str:
    row = next((r for r in metrics.DORA_BANDS if r.metric == metric and r.band == band), None)
    return row.report_says if row is not None else ""


def dora_rows(dora: metrics.Dora) -> list[DoraRow]:
    frequency = f"{dora.deployments} deploys ({dora.deployments_per_day:.2f} a day)"
    if dora.failed_changes and dora.change_failure_rate is not None:
        failure = (
            f"{percent_words(dora.change_failure_rate)}"
            f" ({dora.failed_changes} of {dora.deployments})"
        )
    else:
        failure = percent_words(dora.change_failure_rate)
    recovery = duration_words(dora.recovery_time.median)
    if dora.unrecovered:
        recovery += f" ({dora.unrecovered} not recovered yet)"
    return [
        DoraRow(
            "Deployment frequency",
            frequency,
            dora.deployment_frequency_band,
            _report_says("deployment_frequency", dora.deployment_frequency_band),
        ),
        DoraRow(
            "Change lead time (median)",
            duration_words(dora.change_lead_time.median),
            dora.change_lead_time_band,
            _report_says("change_lead_time", dora.change_lead_time_band),
        ),
        DoraRow(
            "Change failure rate",
            failure,
            dora.change_failure_rate_band,
            _report_says("change_failure_rate", dora.change_failure_rate_band),
        ),
        DoraRow(
            "Failed deployment recovery time (median)",
            recovery,
            dora.recovery_time_band,
            _report_says("failed_deployment_recovery_time", dora.recovery_time_band),
        ),
    ]


# ------------------------------------------------------------------------------------ the page


@router.get("/services/{service_id}/health")
async def service_health(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    clock: ClockDep,
    service_id: int,
    days: DaysQuery = None,
) -> HTMLResponse:
    window = window_of(days, clock.now())
    service = await catalog.get_service(session, service_id)
    team = await people_service.get_team(session, service.team_id)
    report = await metrics_queries.service_report(session, service_id, window.since, window.until)
    return render(
        request,
        "health/service.html",
        {
            "service": service,
            "team": team,
            "report": report,
            "stats": report.incidents,
            "window": window,
            "dora": dora_rows(report.dora),
            "charts": series_charts(report.series, "service"),
            **WORDS,
        },
    )
