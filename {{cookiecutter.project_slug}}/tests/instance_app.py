"""The app as the two-instance tests serve it: ``create_app()`` from the environment,
plus the test resource (``tests.cached_resource``) in ``TEST_RESOURCE_FILE``."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from app import create_app
from tests.cached_resource import add_resource_routes


def create_instance() -> Flask:
    app = create_app()
    add_resource_routes(app, Path(os.environ["TEST_RESOURCE_FILE"]))
    return app
