"""``baton apply FILE.yaml``: make the database match reviewed, version-controlled config.

Applying the same file twice changes nothing. Things an earlier apply created that are no longer
in the file are reported as stale and deleted only with ``prune``; things people created through
the API or the UI are never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.audit.entities import EntityType
from app.catalog.declarative import CatalogSection, apply_catalog
from app.core.declarative import Action, ApplyReport, ConfigFileError, UnknownReference
from app.escalation.declarative import EscalationSection, apply_escalation
from app.integrations.slack.declarative import (
    SchedulesWithSlackSection,
    apply_slack_announcements,
)
from app.people.declarative import PeopleSection, apply_people
from app.readiness.declarative import ReadinessSection, apply_readiness
from app.schedules.declarative import apply_schedules


class DeclarativeConfig(
    PeopleSection, SchedulesWithSlackSection, EscalationSection, CatalogSection, ReadinessSection
):
    model_config = ConfigDict(extra="forbid")

    version: int = 1


def parse_config(text: str, source: str = "<config>") -> DeclarativeConfig:
    try:
        raw: Any = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{source}: the top level must be a mapping (users:, teams:, ...)")
    try:
        return DeclarativeConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigFileError(f"{source}: invalid configuration\n" + "\n".join(lines)) from None


def load_config_file(path: Path) -> DeclarativeConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"cannot read {path}: {exc.strerror}") from None
    return parse_config(text, str(path))


# In dependency order: each section may refer to what the previous ones define.
APPLIERS = (
    apply_people,
    apply_schedules,
    apply_slack_announcements,
    apply_escalation,
    apply_catalog,
    apply_readiness,
)


async def apply_config(
    session: AsyncSession,
    config: DeclarativeConfig,
    *,
    prune: bool = False,
    by: str = "unknown",
    source: str = "<config>",
) -> ApplyReport:
    """Apply ``config`` in the caller's transaction; the audit log names it "declarative apply
    by ``by``" (unless the session already acts for someone)."""
    audit.act_as(session, audit.Actor.declarative_apply(by))
    report = ApplyReport()
    try:
        for applier in APPLIERS:
            await applier(session, config, report, prune=False)
        if prune:
            # Deleting runs in reverse order, so a service or policy that named a person is
            # gone before the person is.
            removals = ApplyReport()
            for applier in reversed(APPLIERS):
                await applier(session, config, removals, prune=True)
            report.changes = [c for c in report.changes if c.action is not Action.STALE] + [
                c for c in removals.changes if c.action in (Action.DELETE, Action.STALE)
            ]
        await session.flush()
    except UnknownReference as exc:
        raise ConfigFileError(str(exc)) from None
    except IntegrityError as exc:
        raise ConfigFileError(
            "the change conflicts with data made outside the file (for example a person who is "
            f"still in a schedule or policy): {type(exc.orig).__name__}"
        ) from None
    # Every apply is on record, one that changed nothing too: it says the file was in force.
    audit.record(
        session,
        EntityType.DECLARATIVE_APPLY,
        None,
        "applied",
        after={
            "source": source,
            "prune": prune,
            "summary": report.summary(),
            "changes": [c.describe() for c in report.changes if c.action is not Action.UNCHANGED],
        },
    )
    return report
