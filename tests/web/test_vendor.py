"""The vendored front-end files are exactly the ones app/web/static/vendor/README.md records."""

from __future__ import annotations

import hashlib
import re

from app.web.templating import STATIC_DIR

VENDOR = STATIC_DIR / "vendor"
_FILE_ROW = re.compile(r"^\| `([^`]+)` \| `[^`]+` \| `([0-9a-f]{64})` \|$", re.MULTILINE)
_LIBRARY_ROW = re.compile(
    r"^\| `([^`/]+)/` \| \[`[^`]+`\]\([^)]+\) \| ([\w.-]+) \| ([^|]+) \|", re.MULTILINE
)


def _recorded() -> dict[str, str]:
    return dict(_FILE_ROW.findall((VENDOR / "README.md").read_text()))


def test_every_vendored_file_is_recorded_with_its_hash() -> None:
    recorded = _recorded()
    present = {
        str(path.relative_to(VENDOR)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in VENDOR.rglob("*")
        if path.is_file() and path.name != "README.md"
    }
    assert present == recorded


def test_every_library_has_a_version_a_licence_and_its_licence_file() -> None:
    libraries = _LIBRARY_ROW.findall((VENDOR / "README.md").read_text())
    directories = {path.name for path in VENDOR.iterdir() if path.is_dir()}
    assert {name for name, _, _ in libraries} == directories
    for name, version, licence in libraries:
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), name
        assert licence.strip(), name
        assert any(f.name.upper().startswith("LICENSE") for f in (VENDOR / name).iterdir()), name
