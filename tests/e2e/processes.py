"""Real ``baton serve`` processes for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
BATON = str(Path(sys.executable).with_name("baton"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_binary(name: str) -> str:
    """The path of a Debian-packaged program; skip without it unless CI requires it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package); `make test` installs it as root"
        if os.environ.get("BATON_REQUIRE_E2E"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.2, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: {last!r}")


@dataclass
class BatonProcess:
    database_url: str
    token: str
    port: int = field(default_factory=free_port)
    env_extra: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        env.update(
            BATON_DATABASE_URL=self.database_url,
            BATON_PORT=str(self.port),
            BATON_PUBLIC_URL=self.url,
            BATON_BOOTSTRAP_TOKEN=self.token,
            BATON_CONFIG_FILE="/nonexistent",
            # The outside receivers of these tests listen on loopback.
            BATON_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
            BATON_LOG_FORMAT="json",
            BATON_LOG_LEVEL="WARNING",
            **self.env_extra,
        )
        return env

    def start(self, logs: Path) -> BatonProcess:
        self.log_path = logs / f"baton-{self.port}.log"
        handle = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [BATON, "serve"], cwd=REPO, env=self.env(), stdout=handle, stderr=subprocess.STDOUT
        )
        wait_until(self.healthy, timeout=30, what=f"baton on {self.port}")
        return self

    def healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"baton on {self.port} exited:\n{self.logs()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.url}{path}",
            timeout=30,
            headers={"Authorization": f"Bearer {self.token}"},
            **kwargs,
        )
        assert response.status_code < 300, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None


def caught_up(baton: BatonProcess, incident_id: int) -> list[str]:
    """What the process still has to do for an incident at this moment: notifications due or
    being sent, an escalation or acknowledgement expiry past its time. Empty: anything it was
    going to send by now has been sent (the next thing is due later, if at all)."""
    now = datetime.now(UTC)
    incident = baton.api("GET", f"/api/v1/incidents/{incident_id}")
    notifications = baton.api("GET", f"/api/v1/incidents/{incident_id}/notifications")
    left = [
        f"notification {n['id']} {n['status']}"
        for n in notifications
        if n["status"] == "sending"
        or (n["status"] == "pending" and datetime.fromisoformat(n["due_at"]) <= now)
    ]
    due = {"triggered": incident["next_escalation_at"], "acknowledged": incident["ack_expires_at"]}
    when = due.get(incident["state"])
    if when is not None and datetime.fromisoformat(when) <= now:
        left.append(f"incident {incident_id} {incident['state']}: due at {when}")
    return left


def wait_until_caught_up(baton: BatonProcess, incident_id: int, *, timeout: float) -> None:
    """Wait for ``caught_up`` to come back empty: the signal that a check that nothing more
    was sent can be made at once."""
    wait_until(
        lambda: not caught_up(baton, incident_id),
        timeout=timeout,
        what=f"baton to finish what is due for incident {incident_id}",
    )


def migrate(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(BATON_DATABASE_URL=database_url, BATON_CONFIG_FILE="/nonexistent")
    subprocess.run([BATON, "migrate"], cwd=REPO, env=env, check=True, capture_output=True)


def seed_paging(
    baton: BatonProcess,
    receiver_url: str,
    *,
    users: int = 2,
    delay_minutes: int = 1,
    integration: str = "generic",
) -> dict[str, Any]:
    """A team, users with webhook pagers, a ladder over them, a service and a key."""
    team = baton.api("POST", "/api/v1/teams", json={"name": "sre", "kind": "ops"})
    people = []
    for n in range(users):
        user = baton.api(
            "POST",
            "/api/v1/users",
            json={"name": f"Responder {n}", "email": f"responder{n}@example.com"},
        )
        method = baton.api(
            "POST",
            f"/api/v1/users/{user['id']}/contact-methods",
            json={"type": "webhook", "address": f"{receiver_url}/user{n}"},
        )
        baton.api(
            "POST",
            f"/api/v1/users/{user['id']}/notification-rules",
            json={"contact_method_id": method["id"], "delay_minutes": 0},
        )
        people.append(user)
    policy = baton.api(
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "ladder",
            "team_id": team["id"],
            "steps": [
                {"delay_minutes": delay_minutes, "targets": [{"kind": "user", "user_id": u["id"]}]}
                for u in people
            ],
        },
    )
    service = baton.api(
        "POST",
        "/api/v1/services",
        json={"name": "payments-api", "team_id": team["id"], "escalation_policy_id": policy["id"]},
    )
    key = baton.api(
        "POST",
        f"/api/v1/services/{service['id']}/integrations",
        json={"kind": integration, "name": "e2e"},
    )["key"]
    return {"team": team, "users": people, "policy": policy, "service": service, "key": key}
