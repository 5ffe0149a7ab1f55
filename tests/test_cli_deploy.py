"""``baton deploy``: recording deploys and gating a pipeline on the pager's verdict, against a
real ``baton serve`` on 127.0.0.1.

Recording runs the command as a pipeline would (a process); the watch runs in-process with a
clock that only pretends to wait, so ten minutes of watching take no time at all.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app.cli import WatchClock, main, parse_duration
from tests.e2e.processes import BatonProcess, free_port, migrate
from tests.test_cli import _baton

TOKEN = "baton_" + "d" * 40


@pytest.fixture(scope="module")
def baton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatonProcess]:
    where = tmp_path_factory.mktemp("cli-deploy")
    database = f"sqlite:///{where / 'deploys.db'}"
    migrate(database)
    process = BatonProcess(database, TOKEN).start(where)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def team(baton: BatonProcess) -> dict[str, Any]:
    return baton.api("POST", "/api/v1/teams", json={"name": "payments", "kind": "dev"})


def _service(baton: BatonProcess, team: dict[str, Any], name: str) -> dict[str, Any]:
    return baton.api("POST", "/api/v1/services", json={"name": name, "team_id": team["id"]})


def _env(baton: BatonProcess) -> dict[str, str]:
    return {"BATON_URL": baton.url, "BATON_TOKEN": TOKEN}


def _record(baton: BatonProcess, service: str, version: str, *extra: str) -> int:
    recorded = CliRunner().invoke(
        main,
        ["deploy", "--service", service, "--version", version, *extra],
        env=_env(baton),
    )
    assert recorded.exit_code == 0, recorded.output
    return int(recorded.output.split()[0])


def _open_incident(baton: BatonProcess, service: dict[str, Any], title: str) -> dict[str, Any]:
    return baton.api(
        "POST", "/api/v1/incidents", json={"service_id": service["id"], "title": title}
    )


class PretendClock(WatchClock):
    """Time passes only when the watch sleeps; ``on_sleep`` acts in the meantime (an incident
    opening while the pipeline waits)."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


def _watch(url: str, deployment_id: int, clock: PretendClock, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        ["deploy", "watch", str(deployment_id), "--url", url, "--token", TOKEN, *args],
        obj=clock,
    )


def test_a_pipeline_records_its_deploy(tmp_path: Path, baton: BatonProcess, team: Any) -> None:
    service = _service(baton, team, "payments-api")
    baton.api("POST", "/api/v1/users", json={"name": "Dina", "email": "dina@example.com"})
    args = (
        "deploy",
        "--service",
        "payments-api",
        "--version",
        "v1.4.2",
        "--commit",
        "9FCEB02A",
        "--environment",
        "production",
        "--deployer",
        "dina@example.com",
        "--external-id",
        "run-981",
        "--summary",
        "faster refunds",
        "--repository-url",
        "https://git.example.com/payments",
        "--link",
        "https://ci.example.com/run/981",
    )
    done = _baton(tmp_path, *args, **_env(baton))
    assert done.returncode == 0, done.stderr
    deployment_id = int(done.stdout.split()[0])
    assert done.stdout.strip() == f"{deployment_id} payments-api v1.4.2 succeeded in production"
    stored = baton.api("GET", f"/api/v1/deployments/{deployment_id}")
    assert stored["service_id"] == service["id"]
    assert stored["commit_sha"] == "9fceb02a"
    assert stored["source"] == "cli"
    assert stored["deployer_user_id"] is not None
    assert stored["summary"] == "faster refunds"
    assert stored["repository_url"] == "https://git.example.com/payments"
    assert [link["href"] for link in stored["links"]] == ["https://ci.example.com/run/981"]

    # A pipeline run retried sends the same external id: the same deploy, nothing new.
    again = _baton(tmp_path, *args, "--json", **_env(baton))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["id"] == deployment_id
    listed = baton.api("GET", "/api/v1/deployments", params={"service_id": service["id"]})
    assert [d["id"] for d in listed["items"]] == [deployment_id]

    # A deploy reported when it starts, and finished by id.
    started = _record(baton, str(service["id"]), "v1.4.3", "--status", "started")
    assert baton.api("GET", f"/api/v1/deployments/{started}")["status"] == "started"
    finished = CliRunner().invoke(
        main, ["deploy", "finish", str(started), "--status", "failed"], env=_env(baton)
    )
    assert finished.exit_code == 0, finished.output
    assert finished.output.strip() == f"{started} payments-api v1.4.3 failed"
    assert baton.api("GET", f"/api/v1/deployments/{started}")["status"] == "failed"


def test_bad_deploy_commands_say_why(tmp_path: Path, baton: BatonProcess) -> None:
    unknown = _baton(tmp_path, "deploy", "--service", "nope", "--version", "1", **_env(baton))
    assert unknown.returncode == 1 and "404" in unknown.stderr
    no_version = _baton(tmp_path, "deploy", "--service", "nope", **_env(baton))
    assert no_version.returncode == 2 and "--service and --version" in no_version.stderr
    mixed = _baton(tmp_path, "deploy", "--service", "x", "watch", "1", "--for", "1m")
    assert mixed.returncode == 2 and "takes none" in mixed.stderr
    no_token = _baton(tmp_path, "deploy", "--service", "x", "--version", "1", BATON_URL=baton.url)
    assert no_token.returncode == 1 and "API token is needed" in no_token.stderr


def test_watch_fails_a_deploy_an_incident_followed(
    tmp_path: Path, baton: BatonProcess, team: Any
) -> None:
    service = _service(baton, team, "checkout")
    deployment_id = _record(baton, "checkout", "v2.0.0")
    incident = _open_incident(baton, service, "checkout errors up")
    watched = _baton(tmp_path, "deploy", "watch", str(deployment_id), "--for", "10m", **_env(baton))
    assert watched.returncode == 1, watched.stdout + watched.stderr
    lines = watched.stdout.splitlines()
    assert lines[0] == f"deploy {deployment_id}: suspect"
    assert f"#{incident['id']}" in lines[1] and "checkout errors up" in lines[1]
    assert "suspected" in lines[1]

    as_json = _watch(baton.url, deployment_id, PretendClock(), "--for", "10m", "--json")
    assert as_json.exit_code == 1
    verdict = json.loads(as_json.stdout)
    assert verdict["verdict"] == "suspect"
    assert [i["incident_id"] for i in verdict["incidents"]] == [incident["id"]]

    # Confirmed as the cause: failed, still exit 1.
    baton.api("POST", f"/api/v1/incidents/{incident['id']}/deploys/{deployment_id}/confirm")
    confirmed = _watch(baton.url, deployment_id, PretendClock(), "--for", "10m")
    assert confirmed.exit_code == 1
    assert confirmed.stdout.splitlines()[0] == f"deploy {deployment_id}: failed"


def test_watch_stops_a_rollout_when_an_incident_opens_meanwhile(
    baton: BatonProcess, team: Any
) -> None:
    service = _service(baton, team, "ledger")
    deployment_id = _record(baton, "ledger", "v7")
    opened: list[dict[str, Any]] = []

    def meanwhile(sleeps: int) -> None:
        if sleeps == 3:
            opened.append(_open_incident(baton, service, "ledger lagging"))

    clock = PretendClock(meanwhile)
    watched = _watch(baton.url, deployment_id, clock, "--for", "10m", "--interval", "1m")
    assert watched.exit_code == 1, watched.output
    # Caught at the first check after the incident opened, not at the end of the ten minutes.
    assert clock.sleeps == [60.0, 60.0, 60.0]
    assert f"deploy {deployment_id}: suspect" in watched.output
    assert f"#{opened[0]['id']}" in watched.output


def test_watch_passes_a_clean_deploy_after_the_period(baton: BatonProcess, team: Any) -> None:
    _service(baton, team, "search")
    deployment_id = _record(baton, "search", "2026.12.01", "--environment", "production")
    clock = PretendClock()
    watched = _watch(baton.url, deployment_id, clock, "--for", "10m", "--interval", "45s")
    assert watched.exit_code == 0, watched.output
    assert watched.stdout.splitlines()[0] == f"deploy {deployment_id}: clean"
    # It watched the whole ten minutes, checking every 45 seconds, and no longer.
    assert sum(clock.sleeps) == 600
    assert clock.sleeps == [45.0] * 13 + [15.0]

    # A deploy of another service with an incident does not make this one suspect.
    other = _service(baton, team, "search-indexer")
    _open_incident(baton, other, "indexer down")
    assert _watch(baton.url, deployment_id, PretendClock(), "--for", "1m").exit_code == 0


def test_watch_says_when_it_cannot_give_a_verdict(baton: BatonProcess) -> None:
    unknown = _watch(baton.url, 999_999, PretendClock(), "--for", "1m")
    assert unknown.exit_code == 2 and "404" in unknown.output
    nowhere = _watch(f"http://127.0.0.1:{free_port()}", 1, PretendClock(), "--for", "1m")
    assert nowhere.exit_code == 2 and "cannot reach" in nowhere.output
    bad_period = _watch(baton.url, 1, PretendClock(), "--for", "ten minutes")
    assert bad_period.exit_code == 2 and "not a duration" in bad_period.output
    missing = _watch(baton.url, 1, PretendClock())
    assert missing.exit_code == 2 and "--for" in missing.output


class _FlakyBaton(BaseHTTPRequestHandler):
    """Answers ``clean`` at first, then what ``answers`` says (a status code or a verdict)."""

    answers: list[int | str] = []

    def do_GET(self) -> None:
        answer = self.answers.pop(0) if self.answers else "clean"
        if isinstance(answer, int):
            self.send_response(answer)
            self.end_headers()
            return
        body = json.dumps(
            {
                "deployment_id": 5,
                "verdict": answer,
                "watching": True,
                "watched_until": "2026-12-01T12:30:00Z",
                "failed_change": False,
                "recovered_at": None,
                "incidents": [],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[tuple[str, type[_FlakyBaton]]]:
    handler = type("Flaky", (_FlakyBaton,), {"answers": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_blip_mid_watch_is_not_a_verdict(flaky: tuple[str, type[_FlakyBaton]]) -> None:
    url, handler = flaky
    handler.answers = ["clean", 503, 502, "clean"]
    recovered = _watch(url, 5, PretendClock(), "--for", "2m", "--interval", "30s")
    assert recovered.exit_code == 0, recovered.output
    assert "503" in recovered.stderr and "trying again" in recovered.stderr
    assert recovered.stdout == "deploy 5: clean\n"

    handler.answers = ["clean", 503, 503, 503, 503, 503]
    down = _watch(url, 5, PretendClock(), "--for", "2m", "--interval", "30s")
    assert down.exit_code == 2, down.output  # no verdict at the end is not a clean one

    handler.answers = [401]
    refused = _watch(url, 5, PretendClock(), "--for", "2m")
    assert refused.exit_code == 2


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("0s", 0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "10x", "m10", "1h 30m", "-1m"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
