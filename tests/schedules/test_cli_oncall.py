"""``baton oncall`` as people run it: a real process on a scratch SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BATON = str(Path(sys.executable).with_name("baton"))


def _baton(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(
        BATON_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        BATON_CONFIG_FILE=str(tmp_path / "absent.env"),
        BATON_LOG_FORMAT="text",
    )
    return subprocess.run(
        [BATON, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_baton_oncall(tmp_path: Path) -> None:
    assert _baton(tmp_path, "migrate").returncode == 0
    assert _baton(tmp_path, "apply", "config/demo.yaml").returncode == 0

    # Sunday 8 March 2026, 12:00 UTC: week 9 of the payments rotation (Bob; 9 % 4 == 1 is
    # Alice from Monday 9 March 09:00 EDT = 13:00 UTC) and Europe's slot of follow-the-sun.
    result = _baton(tmp_path, "oncall", "--at", "2026-03-08T12:00:00Z")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "On call at 2026-03-08 12:00 UTC" in out
    payments = out[out.index("payments-primary") : out.index("sre-follow-the-sun")]
    assert "on call  Bob Okafor <bob@example.com>  [weekly]" in payments
    assert "shadow   Erin Walsh <erin@example.com>" in payments
    assert "until    2026-03-09 13:00 UTC (Mon 09 Mar 09:00 America/New_York)" in payments
    assert "next     Alice Nguyen" in payments
    sre = out[out.index("sre-follow-the-sun") :]
    # Berlin's working day (09:00-17:00 CET) until New York's begins (09:00 EDT, 13:00 UTC).
    assert "on call  Alice Nguyen <alice@example.com>  [emea]" in sre
    assert "until    2026-03-08 13:00 UTC" in sre and "next     Bob Okafor" in sre

    one = _baton(tmp_path, "oncall", "sre-follow-the-sun", "--at", "2026-03-08T23:00")
    assert one.returncode == 0, one.stderr
    assert "payments-primary" not in one.stdout
    assert "on call  Dan Kim <dan@example.com>  [apac]" in one.stdout

    unknown = _baton(tmp_path, "oncall", "nope")
    assert unknown.returncode != 0 and "no schedule named 'nope'" in unknown.stderr
    bad_time = _baton(tmp_path, "oncall", "--at", "tomorrow-ish")
    assert bad_time.returncode != 0 and "--at" in bad_time.stderr
