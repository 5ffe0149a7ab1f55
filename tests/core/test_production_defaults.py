"""Production is the default where it matters (issue 10, item 4): the container image runs in
production mode and so refuses the default secret; ``make run`` stays development on
127.0.0.1; ``/metrics`` can ask for a bearer token."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.core.clock import ManualClock
from app.core.db import Database
from app.core.settings import Environment, InsecureSettingsError, Settings, load_settings
from app.main import Overrides, create_app
from app.notify.console import ConsoleProvider
from tests.conftest import PUBLIC_URL

REPO = Path(__file__).resolve().parents[2]
METRICS_TOKEN = "scrape-me-" + "m" * 30


def _dockerfile_env() -> dict[str, str]:
    """The ``ENV`` assignments of the Dockerfile (continuation lines joined)."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


def _clear_baton_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("BATON_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BATON_CONFIG_FILE", str(tmp_path / "absent.env"))


def test_the_container_image_runs_in_production_and_refuses_the_default_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _dockerfile_env()
    assert env["BATON_ENV"] == "production"
    assert env["BATON_HOST"] == "0.0.0.0"  # noqa: S104 - a container listens on all interfaces
    _clear_baton_environment(monkeypatch, tmp_path)
    for name, value in env.items():
        if name.startswith("BATON_"):
            monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.env is Environment.PRODUCTION
    with pytest.raises(InsecureSettingsError, match="BATON_SECRET_KEY"):
        create_app(settings)
    monkeypatch.setenv("BATON_SECRET_KEY", "k" * 48)
    load_settings().check_production_safety()


def test_make_run_stays_development_on_localhost(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "$(BATON) serve" in recipe
    assert "BATON_ENV" not in recipe and "BATON_HOST" not in recipe
    _clear_baton_environment(monkeypatch, tmp_path)
    settings = load_settings()
    assert settings.env is Environment.DEVELOPMENT
    assert settings.host == "127.0.0.1"
    settings.check_production_safety()  # development accepts the placeholder secret


@pytest.fixture
async def metrics_client(
    settings: Settings, clock: ManualClock, db: Database, console: ConsoleProvider
) -> AsyncIterator[httpx.AsyncClient]:
    guarded = settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
    app = create_app(
        guarded, clock=clock, overrides=Overrides(database=db, providers={"console": console})
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
            yield http


async def test_metrics_are_open_without_a_metrics_token(client: httpx.AsyncClient) -> None:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert "baton_http_requests_total" in answer.text


async def test_metrics_token_guards_metrics(metrics_client: httpx.AsyncClient) -> None:
    missing = await metrics_client.get("/metrics")
    assert missing.status_code == 401 and missing.json()["code"] == "unauthenticated"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await metrics_client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await metrics_client.get(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert right.status_code == 200 and "baton_auth_failures_total" in right.text
    # The metrics token is for /metrics only: it is no API token.
    api = await metrics_client.get(
        "/api/v1/users", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert api.status_code == 401


def test_the_metrics_token_is_a_secret() -> None:
    settings = Settings(metrics_token=METRICS_TOKEN)
    assert METRICS_TOKEN not in repr(settings) and METRICS_TOKEN not in str(settings.model_dump())
