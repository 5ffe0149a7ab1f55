from __future__ import annotations

import pytest

from tests.paging import Engine


@pytest.fixture
def engine(app, db, clock) -> Engine:  # type: ignore[no-untyped-def]
    return Engine(app, db, clock)
