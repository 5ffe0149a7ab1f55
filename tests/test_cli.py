"""The ``baton`` command as people run it: real processes on a scratch SQLite database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
BATON = str(Path(sys.executable).with_name("baton"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(
        BATON_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        BATON_CONFIG_FILE=str(tmp_path / "absent.env"),
        BATON_LOG_FORMAT="text",
        **extra,
    )
    return env


def _baton(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BATON, *args],
        cwd=REPO,
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_migrate_apply_init(tmp_path: Path) -> None:
    assert _baton(tmp_path, "migrate").returncode == 0
    applied = _baton(tmp_path, "apply", "config/demo.yaml")
    assert applied.returncode == 0, applied.stderr
    assert "create    user alice@example.com" in applied.stdout
    again = _baton(tmp_path, "apply", "config/demo.yaml")
    assert again.stdout == "" and "unchanged" in again.stderr
    dry = _baton(tmp_path, "apply", "--dry-run", "config/demo.yaml")
    assert "dry run" in dry.stderr

    first = _baton(tmp_path, "init")
    token = first.stdout.split()[2]
    assert token.startswith("baton_")
    assert "sign in by pasting an API token, or ask for a sign-in link" in first.stderr
    # Later starts (every `make run`) print no secret, and say how to get another token.
    second = _baton(tmp_path, "init")
    assert second.returncode == 0 and second.stdout == ""
    assert "baton token create --email admin@example.com" in second.stderr
    assert token not in second.stdout + second.stderr

    another = _baton(tmp_path, "token", "create", "--email", "admin@example.com")
    assert another.returncode == 0, another.stderr
    made = another.stdout.strip()
    assert made.startswith("baton_") and made != token
    nobody = _baton(tmp_path, "token", "create", "--email", "nobody@example.com")
    assert nobody.returncode != 0 and "no user" in nobody.stderr

    # A chosen bootstrap token is applied and never echoed: the operator already has it.
    preset = "baton_" + "p" * 40
    fixed = _baton(tmp_path, "init", BATON_BOOTSTRAP_TOKEN=preset)
    assert fixed.returncode == 0, fixed.stderr
    assert preset not in fixed.stdout + fixed.stderr
    assert "BATON_BOOTSTRAP_TOKEN" in fixed.stderr
    assert _baton(tmp_path, "init", BATON_BOOTSTRAP_TOKEN=preset).returncode == 0


def test_apply_reports_bad_files(tmp_path: Path) -> None:
    _baton(tmp_path, "migrate")
    bad = tmp_path / "bad.yaml"
    bad.write_text("users: [{email: nope, name: X}]\n")
    result = _baton(tmp_path, "apply", str(bad))
    assert result.returncode != 0
    assert "users.0.email" in result.stderr
    missing = _baton(tmp_path, "apply", str(tmp_path / "missing.yaml"))
    assert missing.returncode != 0 and "cannot read" in missing.stderr


def test_served_demo_lists_users_with_the_printed_token(tmp_path: Path) -> None:
    """What the README promises for `make run`, in miniature."""
    assert _baton(tmp_path, "migrate").returncode == 0
    assert _baton(tmp_path, "apply", "config/demo.yaml").returncode == 0
    token = _baton(tmp_path, "init").stdout.split()[2]
    port = _free_port()
    server = subprocess.Popen(
        [BATON, "serve"],
        cwd=REPO,
        env=_env(tmp_path, BATON_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("baton serve did not come up")
        users = httpx.get(f"{url}/api/v1/users", headers={"Authorization": f"Bearer {token}"})
        assert users.status_code == 200
        emails = {u["email"] for u in users.json()["items"]}
        assert {"alice@example.com", "bob@example.com", "admin@example.com"} <= emails
        assert httpx.get(f"{url}/readyz").json()["status"] == "ok"
        healthcheck = _baton(tmp_path, "healthcheck", BATON_PORT=str(port))
        assert healthcheck.returncode == 0
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    # uvicorn re-raises SIGTERM after a clean shutdown, so the exit status names the signal.
    assert server.returncode in (0, -15), output
    assert "baton stopped" in output, "SIGTERM shuts down gracefully"
    assert token not in output, "the token is never logged"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (REPO / "Dockerfile").read_text()
    assert "\nUSER 10001" in text and "HEALTHCHECK" in text and '"--migrate"' in text


def test_incident_commands_act_through_the_api(tmp_path: Path) -> None:
    from tests.e2e.processes import BatonProcess, migrate

    database = f"sqlite:///{tmp_path / 'cli-incidents.db'}"
    migrate(database)
    token = "baton_" + "c" * 40
    baton = BatonProcess(database, token).start(tmp_path)
    try:
        team = baton.api("POST", "/api/v1/teams", json={"name": "ops", "kind": "ops"})
        service = baton.api("POST", "/api/v1/services", json={"name": "db", "team_id": team["id"]})
        incident = baton.api(
            "POST", "/api/v1/incidents", json={"service_id": service["id"], "title": "replica lag"}
        )
        env = {"BATON_URL": baton.url, "BATON_TOKEN": token}
        listed = _baton(tmp_path, "incidents", **env)
        assert f"#{incident['id']}" in listed.stdout and "triggered" in listed.stdout
        acked = _baton(tmp_path, "ack", str(incident["id"]), **env)
        assert acked.returncode == 0 and "acknowledged" in acked.stdout
        resolved = _baton(tmp_path, "resolve", str(incident["id"]), "--note", "restarted", **env)
        assert "resolved" in resolved.stdout
        again = _baton(tmp_path, "ack", str(incident["id"]), **env)
        assert again.returncode != 0 and "409" in again.stderr
        assert _baton(tmp_path, "incidents", **env).stdout.strip() == "no incidents"
        unauthenticated = _baton(tmp_path, "incidents", BATON_URL=baton.url)
        assert "API token is needed" in unauthenticated.stderr
    finally:
        baton.stop()
