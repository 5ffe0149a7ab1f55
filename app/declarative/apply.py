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
from sqlalchemy.ext.asyncio import AsyncSession

from app.declarative.report import ApplyReport
from app.people.declarative import PeopleSection, UnknownReference, apply_people


class DeclarativeConfig(PeopleSection):
    model_config = ConfigDict(extra="forbid")

    version: int = 1


class ConfigFileError(ValueError):
    """The file cannot be applied; the message says where and why."""


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


async def apply_config(
    session: AsyncSession, config: DeclarativeConfig, *, prune: bool = False
) -> ApplyReport:
    report = ApplyReport()
    try:
        await apply_people(session, config, report, prune=prune)
    except UnknownReference as exc:
        raise ConfigFileError(str(exc)) from None
    await session.flush()
    return report
