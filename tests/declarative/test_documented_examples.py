"""The examples in docs/declarative-config.md are valid configuration (the docs stay true)."""

from __future__ import annotations

import re
from pathlib import Path

from app.declarative.apply import parse_config

DOC = Path(__file__).parents[2] / "docs" / "declarative-config.md"


def test_every_yaml_example_in_the_docs_parses() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 4
    config = parse_config("\n".join(blocks), str(DOC))
    assert config.users and config.teams and config.schedules
    assert config.escalation_policies and config.services
