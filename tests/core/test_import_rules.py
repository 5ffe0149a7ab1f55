"""The import rules hold: the import-linter contracts in pyproject.toml (``make test`` runs them
before the suite as well), and imports sit at the top of their module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A function-level import is allowed only as a documented cycle-breaker: a comment naming the
# cycle on the line above it (or on the import's own line) that contains this word.
CYCLE_BREAKER = "cycle"


def test_the_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())",
            "--no-cache",
            "--no-logo",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _late_imports(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if not isinstance(inner, ast.Import | ast.ImportFrom):
                continue
            nearby = lines[max(inner.lineno - 2, 0) : inner.lineno]
            comments = " ".join(line.partition("#")[2] for line in nearby)
            if CYCLE_BREAKER not in comments.lower():
                found.append(f"{path.relative_to(REPO)}:{inner.lineno}: {ast.unparse(inner)}")
    return found


def test_imports_sit_at_the_top_of_their_module() -> None:
    late = [line for path in sorted((REPO / "app").rglob("*.py")) for line in _late_imports(path)]
    assert not late, (
        "imports inside functions (move them to the top of the module, or say which import "
        "cycle they break in a comment above them):\n" + "\n".join(late)
    )
