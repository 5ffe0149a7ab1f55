"""``python -m bench`` (``make bench``): every benchmark, one after the other.

Figures go to docs/benchmarks.md with the machine and the date; quote the ratios measured side
by side within one run, the machine is shared and absolute times drift.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PG = "postgresql://postgres@127.0.0.1:5432/baton_bench_oncall"

BENCHMARKS = [
    ("on-call calculator (in process)", [str(HERE / "bench_oncall.py")]),
    ("who is on call over HTTP, SQLite", [str(HERE / "bench_oncall_http.py")]),
    (
        "who is on call over HTTP, PostgreSQL",
        [str(HERE / "bench_oncall_http.py"), "--database-url", PG],
    ),
    ("alert ingestion and paging, PostgreSQL", ["-m", "bench.bench_alerts"]),
    (
        "deploy watch cost of opening an incident, SQLite and PostgreSQL",
        ["-m", "bench.bench_deploy_watch"],
    ),
    ("web pages, demo and large organisation, PostgreSQL", ["-m", "bench.bench_web"]),
    (
        "team metrics against the number of incidents, SQLite and PostgreSQL",
        ["-m", "bench.bench_metrics"],
    ),
    (
        "database size over a simulated year with retention, SQLite and PostgreSQL",
        ["-m", "bench.bench_storage"],
    ),
]


def main() -> int:
    quick = ["--quick"] if "--quick" in sys.argv else []
    failed = 0
    for title, args in BENCHMARKS:
        print(f"\n=== {title} ===", flush=True)
        result = subprocess.run([sys.executable, *args, *quick], cwd=HERE.parent, check=False)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
