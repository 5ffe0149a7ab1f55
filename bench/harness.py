"""Shared benchmark machinery: a PostgreSQL database, a real server process, a recorder of
pages, percentiles. Benchmarks report ratios measured side by side in one run, because the
machine is shared and absolute figures drift."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

REPO = Path(__file__).resolve().parents[1]
BATON = str(Path(sys.executable).with_name("baton"))
TOKEN = "baton_bench-token-0123456789abcdef0123456789"  # noqa: S105 - a throwaway bench DB
ADMIN_URL = os.environ.get("BATON_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = cpu
    memory = psutil.virtual_memory().total / 2**30
    cores = psutil.cpu_count()
    return f"{model}, {cores} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(database_url: str, port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(
        BATON_DATABASE_URL=database_url,
        BATON_PORT=str(port),
        BATON_PUBLIC_URL=f"http://127.0.0.1:{port}",
        BATON_BOOTSTRAP_TOKEN=TOKEN,
        BATON_CONFIG_FILE="/nonexistent",
        BATON_LOG_LEVEL="WARNING",
        BATON_INTEGRATION_RATE_PER_SECOND="100000",
        BATON_INTEGRATION_BURST="100000",
        BATON_RATE_LIMIT_WEBHOOK="1000000/1m",
        # The page recorder is a webhook pager on this machine.
        BATON_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
        **extra,
    )
    return env


@dataclass
class Server:
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    # The checkout whose code the server runs (another one for a side-by-side comparison).
    root: Path = REPO
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = _env(self.database_url, self.port, self.extra_env)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(self.root), os.environ.get("PYTHONPATH")])
        )
        subprocess.run([BATON, "migrate"], cwd=self.root, env=env, check=True, capture_output=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.server:create_bench_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=self.root,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        r = httpx.request(
            method,
            f"{self.url}{path}",
            timeout=30,
            headers={"Authorization": f"Bearer {TOKEN}"},
            **kwargs,
        )
        r.raise_for_status()
        return r.json() if r.content else None

    def rss_mb(self) -> float:
        """The largest resident set among the server's processes (the target is per process)."""
        if self.process is None:
            return 0.0
        proc = psutil.Process(self.process.pid)
        sizes = [proc.memory_info().rss]
        for child in proc.children(recursive=True):
            try:
                sizes.append(child.memory_info().rss)
            except psutil.Error:
                continue
        return max(sizes) / 2**20


class PageRecorder:
    """A webhook receiver that notes when each page arrived (the provider hand-off)."""

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        self.count = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as a provider's API or a webhook receiver behind a proxy keeps the
            # connection: Baton's sender reuses it.
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                now = time.time()
                incident = body.get("incident", {}).get("incident_id")
                if incident is not None:
                    recorder.arrivals.setdefault(int(incident), now)
                recorder.count += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        class Quiet(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512

        self.server = Quiet(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/pager"

    def close(self) -> None:
        self.server.shutdown()


def seed(server: Server, pager_url: str) -> dict[str, Any]:
    """One responder with a webhook pager, a one-step policy, a service, an Alertmanager key."""
    team = server.api("POST", "/api/v1/teams", json={"name": "bench", "kind": "ops"})
    user = server.api("POST", "/api/v1/users", json={"name": "Bench", "email": "bench@example.com"})
    method = server.api(
        "POST",
        f"/api/v1/users/{user['id']}/contact-methods",
        json={"type": "webhook", "address": pager_url},
    )
    server.api(
        "POST",
        f"/api/v1/users/{user['id']}/notification-rules",
        json={"contact_method_id": method["id"], "delay_minutes": 0},
    )
    policy = server.api(
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "bench",
            "team_id": team["id"],
            "steps": [{"delay_minutes": 30, "targets": [{"kind": "user", "user_id": user["id"]}]}],
        },
    )
    service = server.api(
        "POST",
        "/api/v1/services",
        json={"name": "bench-api", "team_id": team["id"], "escalation_policy_id": policy["id"]},
    )
    key = server.api(
        "POST",
        f"/api/v1/services/{service['id']}/integrations",
        json={"kind": "alertmanager", "name": "bench"},
    )["key"]
    return {"key": key, "service": service}


def run_wrk(url: str, lua: str, seconds: float, connections: int, *, latency: bool = False) -> str:
    """wrk's report (a C load generator, so the client is not the limit) of ``lua`` against
    ``url``; any non-2xx answer is an error of the run, not a figure."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(lua)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{int(seconds)}s",
                *(["--latency"] if latency else []),
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        script.unlink()
    if "Non-2xx" in out:
        raise RuntimeError(f"{url} answered errors:\n{out}")
    return out
