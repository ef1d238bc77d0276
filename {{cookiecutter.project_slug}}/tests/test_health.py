"""Liveness, readiness and version."""

from __future__ import annotations

import time

from flask import Flask
from flask.testing import FlaskClient

from app.core.readiness import add_probe
from app.version import __version__
from tests.support import make_settings


def test_liveness_needs_no_dependency(client: FlaskClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["success"] is True
    assert response.json["data"] == {"status": "ok"}


def test_version(client: FlaskClient) -> None:
    response = client.get("/api/v1/version")
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["data"] == {
        "name": make_settings().PROJECT_NAME,
        "version": __version__,
        "api": "v1",
    }


def test_ready_when_every_dependency_answers(app: Flask, client: FlaskClient) -> None:
    add_probe(app, "fake", lambda: None)
    response = client.get("/api/v1/health/ready")
    assert response.status_code == 200
    assert response.json is not None
    checks = response.json["data"]["checks"]
    assert checks["fake"]["status"] == "ok"


def test_not_ready_when_a_dependency_fails(app: Flask, client: FlaskClient) -> None:
    def broken() -> None:
        raise ConnectionRefusedError("nobody home")

    add_probe(app, "search", broken)
    response = client.get("/api/v1/health/ready")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"]["code"] == "NOT_READY"
    checks = response.json["error"]["details"]["checks"]
    assert checks["search"] == {"status": "down", "error": "ConnectionRefusedError"}


def test_a_hanging_dependency_is_reported_within_the_timeout(client: FlaskClient) -> None:
    app: Flask = client.application
    app.extensions["settings"].HEALTH_CHECK_TIMEOUT = 0.2
    add_probe(app, "slow", lambda: time.sleep(2))
    started = time.perf_counter()
    response = client.get("/api/v1/health/ready")
    elapsed = time.perf_counter() - started
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"]["details"]["checks"]["slow"]["status"] == "down"
    assert elapsed < 1.5
