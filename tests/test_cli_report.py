"""``baton report``: a service's metrics as a table, through a real ``baton serve`` on
127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from app.cli import main, parse_since
from tests.e2e.processes import BatonProcess, migrate

TOKEN = "baton_" + "r" * 40


@pytest.fixture(scope="module")
def baton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatonProcess]:
    where = tmp_path_factory.mktemp("cli-report")
    database = f"sqlite:///{where / 'report.db'}"
    migrate(database)
    process = BatonProcess(database, TOKEN).start(where)
    try:
        yield process
    finally:
        process.stop()


def _env(baton: BatonProcess) -> dict[str, str]:
    return {"BATON_URL": baton.url, "BATON_TOKEN": TOKEN}


def _lines(output: str) -> dict[str, str]:
    """The table's rows by label (labels and values are two spaces or more apart)."""
    rows = {}
    for line in output.splitlines():
        label, _, value = line.partition("  ")
        rows[label.strip()] = value.strip()
    return rows


def test_the_report_prints_the_services_figures(baton: BatonProcess) -> None:
    team: dict[str, Any] = baton.api("POST", "/api/v1/teams", json={"name": "sre", "kind": "ops"})
    service = baton.api(
        "POST", "/api/v1/services", json={"name": "payments-api", "team_id": team["id"]}
    )
    committed = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    baton.api(
        "POST",
        "/api/v1/deployments",
        json={"service": "payments-api", "version": "v1", "committed_at": committed},
    )
    baton.api(
        "POST",
        "/api/v1/deployments",
        json={"service": "payments-api", "version": "v2", "status": "failed"},
    )
    incident = baton.api(
        "POST", "/api/v1/incidents", json={"service_id": service["id"], "title": "latency"}
    )
    baton.api("POST", f"/api/v1/incidents/{incident['id']}/resolve", json={"note": "ok"})

    for reference in ("payments-api", str(service["id"])):
        result = CliRunner().invoke(
            main, ["report", "--service", reference, "--since", "30d"], env=_env(baton)
        )
        assert result.exit_code == 0, result.output
        rows = _lines(result.output)
        assert rows["service"] == "payments-api"
        assert rows["incidents"] == "1"
        assert rows["deploys"].startswith("2 (0.07/day)")
        assert rows["change failure rate"] == "50% (low)"
        assert rows["change lead time (median)"].endswith("(elite)")
        assert rows["MTTA median / p90 / mean"] == "- / - / -"
        assert "2023" in rows["bands from"]


def test_bad_report_commands_say_why(baton: BatonProcess) -> None:
    unknown = CliRunner().invoke(main, ["report", "--service", "nope"], env=_env(baton))
    assert unknown.exit_code == 1 and "not found" in unknown.output
    bad_since = CliRunner().invoke(
        main, ["report", "--service", "x", "--since", "yesterday"], env=_env(baton)
    )
    assert bad_since.exit_code == 2 and "neither a time like 30d" in bad_since.output
    too_long = CliRunner().invoke(
        main, ["report", "--service", "1", "--since", "800d"], env=_env(baton)
    )
    assert too_long.exit_code == 1 and "422" in too_long.output


def test_since_reads_durations_and_instants() -> None:
    now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    assert parse_since("30d", now) == now - timedelta(days=30)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("2w", now) == now - timedelta(days=14)
    assert parse_since("2026-03-01T00:00", now) == datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither"):
        parse_since("soon", now)
