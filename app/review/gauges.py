"""The Prometheus gauges of services and teams, recomputed by the engine job ``metrics-refresh``.

A scrape of ``/metrics`` only reads them: the figures come from the same reports as the API
(``metrics_queries.team_report``), which are too heavy to compute per scrape. Labels name
services and teams only, never people, so their number stays that of the catalog. Each replica
running the engine refreshes its own copy; they agree, so a scraper may take any one (or
``max``) of them. A service or team that was deleted or renamed disappears at the next refresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prometheus_client import Gauge
from sqlalchemy import select

from app.core import metrics as registry
from app.core.db import Database
from app.people.models import Team
from app.review import metrics_queries
from app.review import service as reviews

log = logging.getLogger(__name__)

INCIDENT_WINDOW = timedelta(days=7)
DELIVERY_WINDOW = timedelta(days=30)

Labels = tuple[str, ...]


@dataclass
class Values:
    """Everything one refresh computed, set on the gauges at once at the end so that a scrape
    never sees half a refresh."""

    per_gauge: dict[str, dict[Labels, float]] = field(default_factory=dict)

    def put(self, gauge: str, labels: Labels, value: float | None) -> None:
        if value is not None:  # no value (no incident acknowledged): no sample, not a zero
            self.per_gauge.setdefault(gauge, {})[labels] = float(value)


# The gauges this module owns, by the name Values uses.
GAUGES: dict[str, Gauge] = {
    "service_incidents_7d": registry.SERVICE_INCIDENTS_7D,
    "service_mtta_seconds_7d": registry.SERVICE_MTTA_SECONDS_7D,
    "service_mttr_seconds_7d": registry.SERVICE_MTTR_SECONDS_7D,
    "service_deploys_30d": registry.SERVICE_DEPLOYS_30D,
    "service_change_failure_rate_30d": registry.SERVICE_CHANGE_FAILURE_RATE_30D,
    "team_incidents_7d": registry.TEAM_INCIDENTS_7D,
    "team_reviews_owed": registry.TEAM_REVIEWS_OWED,
    "team_action_items_overdue": registry.TEAM_ACTION_ITEMS_OVERDUE,
}


async def compute(db: Database) -> Values:
    """The gauges' values now, from the database (one read transaction)."""
    now = db.clock.now()
    values = Values()
    async with db.new_session() as session:
        teams = (await session.scalars(select(Team).order_by(Team.id))).all()
        for team in teams:
            week = await metrics_queries.team_report(session, team.id, now - INCIDENT_WINDOW, now)
            delivery = await metrics_queries.team_report(
                session, team.id, now - DELIVERY_WINDOW, now
            )
            for summary in week.services:
                labels = (summary.service_name, team.name)
                values.put("service_incidents_7d", labels, summary.incidents.incidents)
                values.put("service_mtta_seconds_7d", labels, summary.incidents.mtta.median)
                values.put("service_mttr_seconds_7d", labels, summary.incidents.mttr.median)
            for summary in delivery.services:
                labels = (summary.service_name, team.name)
                values.put("service_deploys_30d", labels, summary.dora.deployments)
                values.put(
                    "service_change_failure_rate_30d", labels, summary.dora.change_failure_rate
                )
            try:
                zone = ZoneInfo(team.time_zone or "UTC")
            except (ValueError, ZoneInfoNotFoundError):
                zone = ZoneInfo("UTC")
            today = now.astimezone(zone).date()
            owed = await reviews.owed_reviews(session, now=now, team_id=team.id)
            overdue = await reviews.overdue_items_for_team(session, team.id, today)
            values.put("team_incidents_7d", (team.name,), week.incidents.incidents)
            values.put("team_reviews_owed", (team.name,), len(owed))
            values.put("team_action_items_overdue", (team.name,), len(overdue))
    return values


def publish(values: Values, refreshed_at: float) -> None:
    """Replace every sample of the owned gauges with ``values`` (no await: atomic for a scrape
    served on the same event loop)."""
    for name, gauge in GAUGES.items():
        gauge.clear()
        for labels, value in values.per_gauge.get(name, {}).items():
            gauge.labels(*labels).set(value)
    registry.REVIEW_GAUGES_REFRESHED.set(refreshed_at)


async def refresh_gauges(db: Database) -> int:
    """The engine job ``metrics-refresh``: recompute and publish; returns how many samples."""
    values = await compute(db)
    publish(values, db.clock.now().timestamp())
    return sum(len(samples) for samples in values.per_gauge.values())
