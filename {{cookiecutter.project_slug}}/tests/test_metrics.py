"""Prometheus metrics through the test client: what is counted, under which
labels, and who may scrape them."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient

from app import create_app
from app.core.access import public
from app.core.config import ConfigurationError, Settings
from app.core.metrics import UNMATCHED, Metrics
from app.features import metrics_server
from tests.conftest import MakeApp
from tests.fixtures.metrics import METRICS_TEST_TOKEN, sample
from tests.support import PRODUCTION, make_settings

HEALTH = "/api/v1/health"
GET_HEALTH = {"method": "GET", "route": HEALTH, "status": "200"}
DOC_FILE = "/api/v1/docs/files/<path:name>"
#: The number of requests: the latency histogram's count.
COUNT = "http_request_duration_seconds_count"


def test_requests_are_counted_and_timed_by_route_and_status(
    app: Flask, client: FlaskClient
) -> None:
    for _ in range(3):
        assert client.get(HEALTH).status_code == 200
    assert sample(app, COUNT, **GET_HEALTH) == 3
    assert sample(app, "http_request_duration_seconds_bucket", le="+Inf", **GET_HEALTH) == 3
    assert 0 < sample(app, "http_request_duration_seconds_sum", **GET_HEALTH) < 10


def test_the_route_is_the_url_rule_not_the_path(app: Flask, client: FlaskClient) -> None:
    for name, status in [("swagger-ui.css", 200), ("favicon-32x32.png", 200), ("nope.js", 404)]:
        with client.get(f"/api/v1/docs/files/{name}") as response:  # a file: close it
            assert response.status_code == status
    found = {"method": "GET", "route": DOC_FILE}
    assert sample(app, COUNT, status="200", **found) == 2
    assert sample(app, COUNT, status="404", **found) == 1
    scraped = app.test_client().get("/metrics").get_data(as_text=True)
    assert "swagger-ui.css" not in scraped


def test_unknown_urls_and_methods_add_no_series(app: Flask, client: FlaskClient) -> None:
    for _ in range(50):
        assert client.get(f"/{uuid.uuid4().hex}").status_code == 404
    assert client.open(HEALTH, method="BREW").status_code == 405
    assert client.open(f"/{uuid.uuid4().hex}", method="BREW").status_code == 404
    assert sample(app, COUNT, method="GET", route=UNMATCHED, status="404") == 50
    assert sample(app, COUNT, method="OTHER", route=UNMATCHED, status="404") == 1
    # 405: the URL matched a rule, but no rule of that method.
    assert sample(app, COUNT, method="OTHER", route=UNMATCHED, status="405") == 1
    metrics: Metrics = app.extensions["metrics"]
    series = {
        tuple(sorted(s.labels.items()))
        for family in metrics.registry.collect()
        if family.name == "http_request_duration_seconds"
        for s in family.samples
        if s.name == "http_request_duration_seconds_count"
    }
    assert len(series) == 3


def test_requests_in_flight_count_the_requests_being_served(make_app: MakeApp) -> None:
    app = make_app()
    seen: list[float] = []

    @public
    def probe() -> Response:
        seen.append(sample(app, "http_requests_in_flight"))
        return Response("ok")

    app.add_url_rule("/probe", view_func=probe)
    client = app.test_client()
    assert client.get("/probe").status_code == 200
    assert client.get("/probe").status_code == 200
    assert seen == [1, 1]
    assert sample(app, "http_requests_in_flight") == 0


def test_a_failing_view_is_counted_as_500_and_leaves_no_request_in_flight(
    make_app: MakeApp,
) -> None:
    app = make_app()

    @public
    def broken() -> Response:
        raise RuntimeError("boom")

    app.add_url_rule("/broken", view_func=broken)
    assert app.test_client().get("/broken").status_code == 500
    assert sample(app, COUNT, method="GET", route="/broken", status="500") == 1
    assert sample(app, "http_requests_in_flight") == 0


def test_rate_limit_refusals_are_counted(make_app: MakeApp) -> None:
    app = make_app(RATE_LIMIT_DEFAULT="2/minute")
    client = app.test_client()
    codes = [client.get("/api/v1/version").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert sample(app, "rate_limit_refusals_total", route="/api/v1/version") == 1
    refused = {"method": "GET", "route": "/api/v1/version", "status": "429"}
    assert sample(app, COUNT, **refused) == 1


def test_cache_hits_and_misses_are_counted_by_namespace(app: Flask, client: FlaskClient) -> None:
    client.get(HEALTH)  # the metrics listen to the cache from the first request on
    cache = app.extensions["cache"]
    with app.app_context():
        assert cache.get("answer", namespace="metrics-test") is None
        cache.set("answer", 42, namespace="metrics-test")
        assert cache.get("answer", namespace="metrics-test") == 42
        assert cache.get("answer", namespace="metrics-test") == 42
    assert sample(app, "cache_lookups_total", namespace="metrics-test", result="miss") == 1
    assert sample(app, "cache_lookups_total", namespace="metrics-test", result="hit") == 2


def test_scrapes_answer_the_text_format_and_are_not_counted(
    app: Flask, client: FlaskClient
) -> None:
    client.get(HEALTH)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    text = response.get_data(as_text=True)
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert 'seconds_count{method="GET",route="/api/v1/health",status="200"} 1.0' in text
    assert 'route="/metrics"' not in text
    assert sample(app, COUNT, method="GET", route="/metrics", status="200") == 0


def test_metrics_are_not_in_the_openapi_document(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert not [path for path in document["paths"] if "metrics" in path]


def test_a_token_protects_the_scrapes(make_app: MakeApp) -> None:
    client = make_app(METRICS_TOKEN=METRICS_TEST_TOKEN).test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "METRICS_TOKEN_REQUIRED"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = client.get("/metrics", headers={"Authorization": f"Basic {METRICS_TEST_TOKEN}"})
    assert basic.status_code == 401
    right = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TEST_TOKEN}"})
    assert right.status_code == 200


def test_production_scrapes_need_the_token() -> None:
    client = create_app(make_settings(**PRODUCTION)).test_client()
    assert client.get("/metrics").status_code == 401
    headers = {"Authorization": f"Bearer {METRICS_TEST_TOKEN}"}
    assert client.get("/metrics", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("token", "enabled", "refused"),
    [(None, True, True), ("short", True, True), (None, False, False)],
)
def test_production_refuses_to_serve_metrics_without_a_strong_token(
    token: str | None, enabled: bool, refused: bool
) -> None:
    values = {**PRODUCTION, "METRICS_TOKEN": token, "METRICS_ENABLED": enabled}
    if refused:
        with pytest.raises(ConfigurationError, match="METRICS_TOKEN must be at least"):
            Settings(_env_file=None, **values)  # type: ignore[arg-type]
    else:
        Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_disabled_metrics_measure_nothing_and_serve_nothing(make_app: MakeApp) -> None:
    app = make_app(METRICS_ENABLED=False)
    assert "metrics" not in app.extensions
    assert app.test_client().get("/metrics").status_code == 404


class _Log:
    def info(self, *args: object) -> None:
        pass


class _Server:
    log = _Log()


def test_the_server_makes_a_folder_of_its_own_and_removes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # unset, and restored after the test
    metrics_server.on_starting(_Server())
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert folder.is_dir()
    metrics_server.on_exit(_Server())
    assert not folder.exists()


def test_the_server_empties_the_folder_it_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "counter_12345.db").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    metrics_server.on_starting(_Server())
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    metrics_server.on_exit(_Server())
    assert tmp_path.is_dir()
