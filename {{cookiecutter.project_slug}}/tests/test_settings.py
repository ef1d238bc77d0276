"""Settings profiles and the production guards."""

from __future__ import annotations

import pytest

from app import create_app
from app.core.config import PLACEHOLDER_SECRET, ConfigurationError, Settings
from tests.support import PRODUCTION

STRONG_SECRET = "s" * 48


def production(**overrides: object) -> Settings:
    """Production settings; every other setting comes from the test environment."""
    values: dict[str, object] = {**PRODUCTION, "SECRET_KEY": STRONG_SECRET}
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[arg-type]


def test_development_is_the_default_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_ENV", raising=False)
    assert Settings(_env_file=None).APP_ENV == "development"  # type: ignore[call-arg]


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.LOG_LEVEL == "WARNING"
    assert settings.CORS_ORIGINS == ["https://a.example", "https://b.example"]


def test_production_accepts_safe_settings() -> None:
    assert production().is_production


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"SECRET_KEY": PLACEHOLDER_SECRET}, "SECRET_KEY"),
        ({"SECRET_KEY": "short-secret"}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 31}, "SECRET_KEY"),
        ({"DEBUG": True}, "DEBUG"),
    ],
)
def test_production_refuses_unsafe_settings(overrides: dict[str, object], setting: str) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        production(**overrides)


def test_create_app_refuses_to_start_on_unsafe_production_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", PLACEHOLDER_SECRET)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app()


def test_the_secret_never_appears_in_the_settings_repr() -> None:
    assert STRONG_SECRET not in repr(production())
