from __future__ import annotations

from pathlib import Path

import pytest

from app.core.settings import (
    Environment,
    InsecureSettingsError,
    Settings,
    load_settings,
    normalize_database_url,
)
from app.main import create_app


def test_production_refuses_default_secret() -> None:
    settings = Settings(env=Environment.PRODUCTION)
    with pytest.raises(InsecureSettingsError, match="BATON_SECRET_KEY"):
        settings.check_production_safety()
    with pytest.raises(InsecureSettingsError):
        create_app(settings)


def test_production_refuses_short_bootstrap_token() -> None:
    settings = Settings(env=Environment.PRODUCTION, secret_key="x" * 40, bootstrap_token="short")
    with pytest.raises(InsecureSettingsError, match="BOOTSTRAP_TOKEN"):
        settings.check_production_safety()


def test_production_with_real_secrets_starts() -> None:
    settings = Settings(env=Environment.PRODUCTION, secret_key="s" * 48)
    settings.check_production_safety()
    create_app(settings)


def test_development_allows_defaults() -> None:
    Settings().check_production_safety()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///./baton.db", "sqlite+aiosqlite:///./baton.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_urls_map_to_async_drivers(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


def test_environment_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / "baton.env"
    env_file.write_text("BATON_PORT=9001\nBATON_PUBLIC_URL=https://oncall.example.com/\n")
    monkeypatch.setenv("BATON_CONFIG_FILE", str(env_file))
    settings = load_settings()
    assert settings.port == 9001
    assert settings.public_url == "https://oncall.example.com"
    monkeypatch.setenv("BATON_PORT", "9002")
    assert load_settings().port == 9002, "the environment wins over the file"


def test_public_url_defaults_to_listen_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATON_CONFIG_FILE", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no config/baton.env here
    monkeypatch.setenv("BATON_PORT", "8123")
    assert load_settings().public_url == "http://127.0.0.1:8123"


def test_secrets_do_not_print() -> None:
    settings = Settings(secret_key="super-secret-value-123", bootstrap_token="baton_tok")
    assert "super-secret-value-123" not in repr(settings)
    assert "baton_tok" not in str(settings.model_dump())
