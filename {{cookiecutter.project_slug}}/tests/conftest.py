"""Shared fixtures: a fresh app per test, built from the testing profile.

Each optional module of the project brings its fixtures as a plugin module in
``tests/fixtures/`` (the database, for one); every module found there is loaded.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

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


@pytest.fixture
def app() -> Flask:
    return create_app(make_settings())


@pytest.fixture
def client(app: Flask, request: pytest.FixtureRequest) -> FlaskClient:
    """A test client. A fixture plugin may define ``default_credentials`` (WSGI
    environ entries, e.g. an ``Authorization`` header); the client then sends them."""
    client = app.test_client()
    with suppress(pytest.FixtureLookupError):
        client.environ_base.update(request.getfixturevalue("default_credentials"))
    return client
