"""Two (or more) checkouts side by side: the server CPU each spends per request of one phase.

Each checkout gets its own server process and PostgreSQL database; wrk bursts alternate
between them, so both see the same machine weather, and the figure is the server's CPU time
(user + system, read from /proc) per request answered, including the pages its engine sends
after the burst. The ratio to the first checkout is what to read.

Run: ``python -m bench.ab /tmp/base /work/main --phase single --bursts 8``
(``git worktree add /tmp/base <commit>`` makes the other checkout).
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from contextlib import ExitStack
from pathlib import Path

import psutil
import psycopg

from bench.bench_alerts import WRK_SCRIPT
from bench.harness import PageRecorder, Server, machine, postgres_database, run_wrk, seed, today
from bench.server import BARE_TABLE

PHASES = {
    # path, alerts per webhook, groups (0: every webhook opens an incident and pages)
    "bare": ("/bench/bare", 1, 0),
    "single": ("/api/v1/integrations/alertmanager", 1, 0),
    "ten": ("/api/v1/integrations/alertmanager", 10, 0),
    "join": ("/api/v1/integrations/alertmanager", 10, 10),
}


def cpu_seconds(server: Server) -> float:
    assert server.process is not None
    times = psutil.Process(server.process.pid).cpu_times()
    return times.user + times.system


def settle(server: Server, quiet: float = 0.02, longest: float = 20.0) -> None:
    """Wait until the server is idle (its engine has sent the burst's pages)."""
    deadline = time.monotonic() + longest
    last = cpu_seconds(server)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(server)
        if now - last < quiet:
            return
        last = now


def burst(
    server: Server, key: str, phase: str, seconds: float, connections: int
) -> tuple[float, float]:
    """(server CPU ms per request, requests per second) of one wrk burst."""
    path, alerts, groups = PHASES[phase]
    before = cpu_seconds(server)
    out = run_wrk(
        f"{server.url}{path}",
        WRK_SCRIPT % {"alerts": alerts, "key": key, "groups": groups},
        seconds,
        connections,
    )
    settle(server)
    spent = cpu_seconds(server) - before
    total = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if total is None or rate is None:
        raise RuntimeError(out)
    return 1000 * spent / int(total.group(1)), float(rate.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument(
        "--phase", choices=sorted(PHASES), nargs="+", default=["single"], help="alternated"
    )
    parser.add_argument("--bursts", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--conn", type=int, default=16)
    parser.add_argument("--env", action="append", default=[], help="K=V for every server")
    parser.add_argument(
        "--env-of",
        action="append",
        default=[],
        help="N:K=V for the server of the Nth tree (from 0): the same tree twice, one knob apart",
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    own: dict[int, dict[str, str]] = {}
    for item in args.env_of:
        index, _, setting = item.partition(":")
        own.setdefault(int(index), {}).update([setting.split("=", 1)])
    recorder = PageRecorder()
    with ExitStack() as stack:
        servers: list[tuple[Server, str]] = []
        for index, tree in enumerate(args.trees):
            url = stack.enter_context(postgres_database(f"baton_ab_{index}"))
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(BARE_TABLE)
            env = {**extra, **own.get(index, {})}
            server = Server(url, extra_env=env, root=tree.resolve()).start()
            stack.callback(server.stop)
            servers.append((server, seed(server, recorder.url)["key"]))
        for server, key in servers:
            for phase in args.phase:
                burst(server, key, phase, 2, args.conn)  # warm-up
        runs = [(index, phase) for index in range(len(servers)) for phase in args.phase]
        cpu: dict[tuple[int, str], list[float]] = {run: [] for run in runs}
        rates: dict[tuple[int, str], list[float]] = {run: [] for run in runs}
        for _ in range(args.bursts):
            for index, phase in runs:
                server, key = servers[index]
                ms, rate = burst(server, key, phase, args.seconds, args.conn)
                cpu[(index, phase)].append(ms)
                rates[(index, phase)].append(rate)
    recorder.close()
    print(f"{today()} {machine()} bursts={args.bursts}x{args.seconds}s")
    for phase in args.phase:
        first = statistics.median(cpu[(0, phase)])
        first_rate = statistics.fmean(rates[(0, phase)])
        for index, tree in enumerate(args.trees):
            spent, rate = cpu[(index, phase)], rates[(index, phase)]
            median, mean_rate = statistics.median(spent), statistics.fmean(rate)
            print(
                f"{phase:7} {tree!s:24} cpu/request median {median:6.3f} ms "
                f"(min {min(spent):.3f} max {max(spent):.3f}) ratio {median / first:.3f}; "
                f"rps mean {mean_rate:7.1f} ratio {mean_rate / first_rate:.3f}"
            )


if __name__ == "__main__":
    main()
