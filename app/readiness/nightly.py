"""The engine job ``readiness-nightly``: each service's nightly evaluation, handback proposals
for Ops services that breach the criteria, and proposals that take effect on silence.

The job runs every few minutes in every replica. A service is due once its owner team's clock
has passed ``NIGHTLY_HOUR`` on a day with no nightly evaluation yet. For each one, in one
transaction: evaluate the checklist, insert the evaluation with its ``nightly_day`` (the unique
``(service_id, nightly_day)`` lets one replica win; a loser inserts nothing and rolls back), and
for an Ops service judge the handback criteria and open a proposal on a breach. So the
evaluation, the proposal and its notices commit together, once across replicas.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Service
from app.core import metrics as registry
from app.core.db import Database
from app.people.models import Team
from app.readiness import service as readiness
from app.readiness.models import Evaluation, Trigger

log = logging.getLogger(__name__)

NIGHTLY_HOUR = 2  # on the owner team's clock
HISTORY_KEPT = timedelta(days=400)


def nightly_day(now: datetime, zone: ZoneInfo) -> date | None:
    """The day whose nightly evaluation is due at ``now`` (None: before the hour today)."""
    local = now.astimezone(zone)
    return local.date() if local.hour >= NIGHTLY_HOUR else None


async def run_nightly(db: Database) -> int:
    """Evaluate every service due; returns how many evaluations this run stored."""
    now = db.clock.now()
    async with db.new_session() as session:
        teams = {t.id: t for t in await session.scalars(select(Team))}
        services = [(s.id, s.team_id) for s in await session.scalars(select(Service))]
        done = {
            (service_id, day)
            for service_id, day in await session.execute(
                select(Evaluation.service_id, Evaluation.nightly_day).where(
                    Evaluation.nightly_day.is_not(None),
                    Evaluation.evaluated_at >= now - timedelta(days=2),
                )
            )
        }
    stored = 0
    for service_id, team_id in services:
        day = nightly_day(now, readiness.team_zone(teams.get(team_id)))
        if day is None or (service_id, day) in done:
            continue
        try:
            if await evaluate_nightly(db, service_id, day):
                stored += 1
        except Exception:
            # One service's failure must not hold back the others; the next run tries again.
            log.exception("nightly readiness evaluation failed", extra={"service_id": service_id})
    try:
        async with db.transaction() as session:
            moved = await readiness.accept_on_silence(session, db.clock.now())
        if moved:
            log.info("handback proposals took effect on silence", extra={"services": moved})
    except Exception:
        log.exception("handback on silence failed")
    await publish_scores(db)
    return stored


async def _claim(session: AsyncSession, row: Evaluation) -> bool:
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(Evaluation)
        .values(
            service_id=row.service_id,
            evaluated_at=row.evaluated_at,
            trigger=row.trigger,
            nightly_day=row.nightly_day,
            support_model=row.support_model,
            score=row.score,
            band=row.band,
            results=row.results,
        )
        .on_conflict_do_nothing(index_elements=["service_id", "nightly_day"])
        .returning(Evaluation.id)
    )
    return result.scalar_one_or_none() is not None


async def evaluate_nightly(db: Database, service_id: int, day: date) -> bool:
    """The service's nightly evaluation for ``day`` (and a handback proposal for an Ops service
    that breaches), in one transaction; False when another replica did it first."""
    async with db.transaction() as session:
        service = await session.get(Service, service_id)
        if service is None:
            return False
        now = db.clock.now()
        evaluation = await readiness.evaluate(session, service, now)
        row = Evaluation(
            service_id=service.id,
            evaluated_at=now,
            trigger=Trigger.NIGHTLY,
            nightly_day=day,
            support_model=service.support_model.value,
            score=evaluation.score,
            band=evaluation.band.value,
            results=[r.to_json() for r in evaluation.results],
        )
        if not await _claim(session, row):
            return False
        proposal = await readiness.propose_handback(
            session, service, now, await readiness.thresholds(session)
        )
        await readiness.prune_history(session, service.id, now - HISTORY_KEPT)
        log.info(
            "nightly readiness evaluation",
            extra={
                "service_id": service.id,
                "score": evaluation.score,
                "band": evaluation.band.value,
                "handback_proposed": proposal is not None,
            },
        )
    return True


async def publish_scores(db: Database) -> None:
    """Each service's latest score as ``baton_service_readiness_score``."""
    async with db.new_session() as session:
        latest = await readiness.latest_evaluations(session)
        rows = (await session.execute(select(Service.id, Service.name, Service.team_id))).all()
        teams = {t.id: t.name for t in await session.scalars(select(Team))}
    registry.SERVICE_READINESS_SCORE.clear()
    for service_id, name, team_id in rows:
        evaluation = latest.get(service_id)
        if evaluation is None:
            continue
        registry.SERVICE_READINESS_SCORE.labels(
            name, teams.get(team_id, ""), evaluation.support_model, evaluation.band
        ).set(evaluation.score)
