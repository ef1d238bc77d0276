"""Shared fixtures: a fresh app per test, built from the testing profile.

Each optional module of the project brings its fixtures as a plugin module in
``tests/fixtures/`` (the database, for one); every module found there is loaded.
A plugin may also prepare every app a test builds, by defining one of the
fixtures named in ``APP_PREPARERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.support import make_settings

pytest_plugins = sorted(
    f"tests.fixtures.{module.stem}"
    for module in (Path(__file__).parent / "fixtures").glob("*.py")
    if module.stem != "__init__"
)

#: Optional fixtures, each a function that prepares a new app, applied in this
#: order: ``join_app`` puts the app in the test's database transaction,
#: ``sign_in`` makes the app's test clients send a regular user's credentials.
APP_PREPARERS = ("join_app", "sign_in")
MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app(request: pytest.FixtureRequest) -> MakeApp:
    """Build an app from the testing profile and settings ``overrides``, prepared
    by whichever ``APP_PREPARERS`` the installed plugins define."""
    preparers = []
    for name in APP_PREPARERS:
        try:
            preparers.append(request.getfixturevalue(name))
        except pytest.FixtureLookupError:
            continue

    def make(**overrides: Any) -> Flask:
        app = create_app(make_settings(**overrides))
        for prepare in preparers:
            prepare(app)
        return app

    return make


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def anonymous_client(app: Flask) -> FlaskClient:
    """A client that sends no credentials, whatever the app's test clients do."""
    return FlaskClient(app)
