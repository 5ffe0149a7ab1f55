"""Playwright against Debian's Chromium: launching it, signing in through the pages, axe-core,
screenshots. Used by tests/e2e/test_browser.py."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.demo import DemoBaton
from tests.e2e.processes import REPO

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("BATON_TEST_ARTIFACTS", REPO / "test-artifacts")) / "screenshots"
AXE_PATH = "/static/vendor/axe-core/axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int

    def size(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height}


DESKTOP = Viewport("desktop", 1280, 800)
PHONE = Viewport("phone", 390, 844)
VIEWPORTS = (DESKTOP, PHONE)


def require_chromium() -> str:
    """Debian's chromium (never a downloaded one); skip without it unless CI requires it."""
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if path is None:
        message = "chromium is not installed (Debian package); `make test` installs it as root"
        if os.environ.get("BATON_REQUIRE_E2E"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        message = "playwright is not installed (pip install -e '.[test]')"
        if os.environ.get("BATON_REQUIRE_E2E"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def launch_options(executable: str) -> dict[str, Any]:
    # Chromium refuses to start its sandbox as root (CI runs as root).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return {"executable_path": executable, "headless": True, "args": args}


def sign_in_by_link(page: Any, baton: DemoBaton, email: str) -> None:
    """From the sign-in page the browser is on: ask for a link, read it from the console
    notifier's output, open it and press *Sign in*."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Sign in to Baton")).to_be_visible()
    page.get_by_label("E-mail address", exact=True).fill(email)
    since = baton.console_count()
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    link = baton.sign_in_link(email, since=since)
    page.goto(link)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_load_state()
    assert "/sign-in" not in page.url, f"still on {page.url} after signing in as {email}"
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now. The vendored copy
    is served by Baton, so the page's CSP (scripts from Baton only) lets it in."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_PATH)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:10]:
            lines.append(
                f"    {' '.join(map(str, node['target']))}: {node.get('failureSummary', '')}"
            )
    return "\n".join(lines)


def screenshot_name(path: str, viewport: Viewport) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", path.strip("/").lower()).strip("-") or "home"
    return SCREENSHOTS / f"{slug}-{viewport.name}.png"


def horizontal_overflow(page: Any) -> int:
    """How many pixels the page is wider than the window (0: nothing to scroll sideways)."""
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def focus_by_tab(page: Any, target: Any, *, limit: int = 80) -> int:
    """Press Tab from the top of the page until ``target`` has the focus; how many presses."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    handle = target.element_handle()
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("(element) => document.activeElement === element", handle):
            return presses
    raise AssertionError(f"{limit} presses of Tab never reached {target}")
