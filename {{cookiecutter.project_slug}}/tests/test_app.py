"""The factory, request ids, logging and the security headers."""

from __future__ import annotations

import json
import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.core.logs import StdoutHandler, request_logger, sole_handler
from tests.support import PRODUCTION, make_settings

HEALTH = "/api/v1/health"


def test_apps_are_independent() -> None:
    first = create_app(make_settings(MAX_CONTENT_LENGTH=10))
    second = create_app(make_settings(MAX_CONTENT_LENGTH=20))
    assert first.config["MAX_CONTENT_LENGTH"] == 10
    assert second.config["MAX_CONTENT_LENGTH"] == 20


def test_a_request_id_is_generated_when_none_is_sent(client: FlaskClient) -> None:
    response = client.get(HEALTH)
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32
    assert response.json is not None
    assert response.json["request_id"] == request_id


def test_a_well_formed_request_id_is_kept(client: FlaskClient) -> None:
    response = client.get(HEALTH, headers={"X-Request-ID": "req-42.abc:7"})
    assert response.headers["X-Request-ID"] == "req-42.abc:7"


@pytest.mark.parametrize("bad", ["", "x" * 129, "has space", "<script>", "-leading-dash"])
def test_a_malformed_request_id_is_replaced(client: FlaskClient, bad: str) -> None:
    response = client.get(HEALTH, headers={"X-Request-ID": bad})
    assert response.headers["X-Request-ID"] != bad
    assert len(response.headers["X-Request-ID"]) == 32


def test_errors_carry_the_request_id_too(client: FlaskClient) -> None:
    response = client.get("/api/v1/nope", headers={"X-Request-ID": "trace-1"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "trace-1"
    assert response.json is not None
    assert response.json["request_id"] == "trace-1"


def test_each_request_is_logged_as_one_json_line(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.get(HEALTH, headers={"X-Request-ID": "log-me"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (entry,) = [line for line in lines if line["logger"] == "app.request"]
    assert entry["method"] == "GET"
    assert entry["path"] == HEALTH
    assert entry["status"] == 200
    assert entry["request_id"] == "log-me"
    assert isinstance(entry["latency_ms"], float)
    assert entry["level"] == "INFO"
    assert entry["client_ip"] == "127.0.0.1"


def test_the_request_line_is_the_same_whether_or_not_a_record_is_made(
    client: FlaskClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With other handlers (pytest's) a record goes through logging; with this
    project's handler alone, the line is written without a record."""

    def request_line() -> dict[str, object]:
        client.get(HEALTH, headers={"X-Request-ID": "same-line"})
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        (entry,) = [line for line in lines if line["logger"] == "app.request"]
        return {key: value for key, value in entry.items() if key not in ("ts", "latency_ms")}

    root = logging.getLogger()
    ours = [handler for handler in root.handlers if isinstance(handler, StdoutHandler)]
    capsys.readouterr()
    assert sole_handler(request_logger, logging.INFO) is None
    through_logging = request_line()
    monkeypatch.setattr(root, "handlers", ours)
    assert sole_handler(request_logger, logging.INFO) is ours[0]
    without_record = request_line()
    assert without_record == through_logging
    assert without_record["message"] == f"GET {HEALTH} 200"
    assert without_record["request_id"] == "same-line"


def test_logging_is_configured_once_however_many_apps_exist() -> None:
    create_app(make_settings())
    create_app(make_settings())
    ours = [h for h in logging.getLogger().handlers if isinstance(h, StdoutHandler)]
    assert len(ours) == 1


def test_security_headers_are_on_every_response(client: FlaskClient) -> None:
    for response in (client.get(HEALTH), client.get("/api/v1/missing")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in response.headers
        assert "Server" not in response.headers


def test_hsts_is_sent_in_production() -> None:
    settings = make_settings(**PRODUCTION)
    response = create_app(settings).test_client().get(HEALTH)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_cors_answers_allowed_origins_only() -> None:
    app = create_app(make_settings(CORS_ORIGINS=["https://app.example"]))
    client = app.test_client()
    allowed = client.get(HEALTH, headers={"Origin": "https://app.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]
    other = client.get(HEALTH, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_cors_is_off_by_default(client: FlaskClient) -> None:
    response = client.get(HEALTH, headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def logged_client_ip(app: Flask, capsys: pytest.CaptureFixture[str]) -> str:
    """Call the API as if through a proxy; return the client address the app logged."""
    capsys.readouterr()
    app.test_client().get(
        HEALTH,
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (entry,) = [line for line in lines if line["logger"] == "app.request"]
    client_ip: str = entry["client_ip"]
    return client_ip


def test_forwarded_headers_are_ignored_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert logged_client_ip(create_app(make_settings()), capsys) == "10.0.0.2"


def test_forwarded_headers_are_trusted_behind_a_configured_proxy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = create_app(make_settings(TRUSTED_PROXY_COUNT=1))
    assert logged_client_ip(app, capsys) == "203.0.113.9"
