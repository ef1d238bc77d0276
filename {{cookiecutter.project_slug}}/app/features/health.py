"""Liveness, readiness and version: the endpoints every project has."""

from __future__ import annotations

from flask import Flask

from app.api.v1 import health as health_api


def init_app(app: Flask) -> None:
    app.register_blueprint(health_api.bp)
