from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import dbutil


@pytest.fixture
def process_database_url(tmp_path: Path) -> Iterator[str]:
    """A database of its own for processes started by the test (not the in-process harness)."""
    base = dbutil.postgres_base_url()
    if base:
        url = dbutil.create_postgres_database(base, f"e2e_{tmp_path.name[-12:]}".lower())
        yield url.replace("postgresql+psycopg://", "postgresql://")
        dbutil.drop_postgres_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'e2e.db'}"
