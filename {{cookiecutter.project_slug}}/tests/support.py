"""Helpers the tests and fixtures share."""

from __future__ import annotations

import os
from typing import Any

from app.core.config import Settings

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256"
#: Settings the production profile requires beyond what the test environment
#: provides (service URLs come from there); tests of production start from these.
#: A module that needs more in production adds it from its fixture plugin.
PRODUCTION: dict[str, Any] = {
    "APP_ENV": "production",
    "SECRET_KEY": "p" * 48,
}
#: Endpoints that take no user credentials because they check their own (a
#: metrics scrape token, say): a module adds its own from its fixture plugin.
SELF_GUARDED_ENDPOINTS: set[str] = set()


def services_required() -> bool:
    """Under CI (or REQUIRE_SERVICES=1) a missing service fails the run instead of skipping."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("REQUIRE_SERVICES") == "1"


def make_settings(**overrides: Any) -> Settings:
    """Settings for a test app: the testing profile, no ``.env`` file, plus ``overrides``.

    Environment variables still apply, as they do in production; the fixtures
    may point service URLs at services created for this run.
    """
    values: dict[str, Any] = {"APP_ENV": "testing", "SECRET_KEY": TEST_SECRET, **overrides}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
