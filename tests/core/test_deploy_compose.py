"""deploy/compose.yaml and its Alertmanager configuration: they parse, every BATON_ variable
they set is a real setting with a valid value (production's checks included), and amtool
accepts the Alertmanager file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.core.settings import Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Read by Baton from the environment outside Settings (app/core/migrations.py, settings.py).
ENVIRONMENT_ONLY = {"BATON_MIGRATIONS_DIR", "BATON_CONFIG_FILE"}
# ${NAME:?message} and ${NAME:-default}: what compose substitutes from the shell.
SUBSTITUTION = re.compile(r"\$\{(?P<name>[A-Z_]+)(?::[?-](?P<rest>[^}]*))?\}")
SHELL = {"BATON_SECRET_KEY": "k" * 64}


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _substituted(value: object) -> str:
    return SUBSTITUTION.sub(lambda m: SHELL.get(m["name"], ""), str(value))


def _baton_services(compose: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: {k: _substituted(v) for k, v in (spec.get("environment") or {}).items()}
        for name, spec in compose["services"].items()
        if name.startswith("baton")
    }


def test_it_runs_postgres_two_replicas_and_alertmanager() -> None:
    compose = _compose()
    assert set(compose["services"]) == {"postgres", "baton-engine", "baton-api", "alertmanager"}
    replicas = _baton_services(compose)
    assert replicas["baton-engine"]["BATON_ENGINE_ENABLED"] == "true"
    assert replicas["baton-api"]["BATON_ENGINE_ENABLED"] == "false"
    for environment in replicas.values():
        assert environment["BATON_DATABASE_URL"].startswith("postgresql://")
    hook = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())["receivers"][0]
    url = hook["webhook_configs"][0]["url"]
    assert url.startswith("http://baton-api:8080/api/v1/integrations/alertmanager/")


@pytest.mark.parametrize("replica", ["baton-engine", "baton-api"])
def test_every_variable_is_a_setting_with_a_valid_value(
    replica: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = _baton_services(_compose())[replica]
    known = {f"BATON_{name.upper()}" for name in Settings.model_fields}
    unknown = set(environment) - known - ENVIRONMENT_ONLY
    assert not unknown, f"{replica} sets variables Baton does not read: {sorted(unknown)}"
    for name in [n for n in os.environ if n.startswith("BATON_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BATON_CONFIG_FILE", "/nonexistent")
    settings = load_settings()
    settings.check_production_safety()  # raises on a default secret
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.engine_enabled is (environment["BATON_ENGINE_ENABLED"] == "true")


def test_alertmanager_accepts_its_configuration() -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        missing = "amtool (Debian prometheus-alertmanager) is not installed"
        if os.environ.get("BATON_REQUIRE_E2E"):
            pytest.fail(missing)
        pytest.skip(missing)
    result = subprocess.run(
        [amtool, "check-config", str(DEPLOY / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
