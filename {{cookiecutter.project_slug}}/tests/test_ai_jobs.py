"""AI generation as a background job, run by a real worker (``flask worker``)."""

from __future__ import annotations

import socket
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.jobs import get_queue
from tests.ai_upstream import Upstream
from tests.conftest import MakeApp
from tests.fixtures.ai import AI_TEST_KEY, GENERATE
from tests.fixtures.redis import run_burst_worker

#: Workers are forked from one preloaded process; one xdist worker runs these tests.
pytestmark = pytest.mark.xdist_group("workers")

AI_JOBS = "/api/v1/ai/jobs"


def queued_jobs(app: Flask) -> int:
    with app.app_context():
        return get_queue().count


def queue(client: FlaskClient, body: dict[str, Any]) -> str:
    """Queue ``body`` as a job; return where the API shows it."""
    response = client.post(AI_JOBS, json=body)
    assert response.status_code == 202, response.json
    queued = response.json["data"]  # type: ignore[index]
    assert queued["status"] == "queued"
    assert queued["name"] == "generate_reply"
    location: str = response.headers["Location"]
    assert location == f"/api/v1/jobs/{queued['id']}"
    return location


def job(client: FlaskClient, location: str) -> dict[str, Any]:
    shown: dict[str, Any] = client.get(location).json["data"]  # type: ignore[index]
    return shown


def test_a_job_answers_what_the_endpoint_answers(app: Flask) -> None:
    client = app.test_client()
    body = {"prompt": "later, please", "max_tokens": 50}
    location = queue(client, body)
    run_burst_worker()
    finished = job(client, location)
    assert finished["status"] == "finished", finished
    direct = client.post(GENERATE, json=body).json["data"]  # type: ignore[index]
    assert finished["result"] == {**direct, "warnings": []}


def test_a_job_calls_the_configured_provider(
    app: Flask, upstream: Upstream, wire: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker reads its settings from the environment, as in a deployment.
    monkeypatch.setenv("AI_PROVIDER", wire.NAME)
    monkeypatch.setenv("AI_API_KEY", AI_TEST_KEY)
    monkeypatch.setenv("AI_BASE_URL", upstream.url + wire.BASE_PATH)
    monkeypatch.setenv("AI_MODEL", "upstream-model")
    upstream.script(wire.reply("Done in the background."), wire.error(401))

    client = app.test_client()
    locations = [queue(client, {"prompt": "work"}), queue(client, {"prompt": "fail"})]
    run_burst_worker()  # runs them in the order they were queued
    finished, failed = (job(client, location) for location in locations)

    assert finished["status"] == "finished", finished
    assert finished["result"]["text"] == "Done in the background."
    assert finished["result"]["provider"] == wire.NAME
    assert [wire.conversation(received) for received in upstream.received] == [
        [("user", "work")],
        [("user", "fail")],
    ]
    # A failed job names the error, never the key or a traceback.
    assert failed["status"] == "failed"
    assert failed["error"] == "AIProviderAuthError"
    assert AI_TEST_KEY not in str(failed)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "a", "stream": True}, "stream"),
        ({"prompt": "a", "model": "not-allowed"}, "model"),
        ({"prompt": "a", "max_tokens": 10**6}, "max_tokens"),
        (
            {"prompt": "a", "response_schema": {"type": "string", "pattern": "a+"}},
            "response_schema",
        ),
        ({"prompt": "a", "unknown": 1}, "unknown"),
    ],
)
def test_a_bad_request_is_refused_before_it_is_queued(
    app: Flask, body: dict[str, Any], field: str
) -> None:
    response = app.test_client().post(AI_JOBS, json=body)
    assert response.status_code == 422
    assert response.json is not None
    assert [detail["field"] for detail in response.json["error"]["details"]] == [field]
    assert queued_jobs(app) == 0


def test_jobs_and_generation_share_the_ai_quota(make_app: MakeApp) -> None:
    client = make_app(AI_RATE_LIMIT="2/minute", RATE_LIMIT_STRATEGY="moving-window").test_client()
    assert client.post(AI_JOBS, json={"prompt": "a"}).status_code == 202
    assert client.post(GENERATE, json={"prompt": "a"}).status_code == 200
    refused = [client.post(path, json={"prompt": "a"}) for path in (AI_JOBS, GENERATE)]
    assert [response.status_code for response in refused] == [429, 429]
    assert refused[0].json["error"]["code"] == "RATE_LIMITED"  # type: ignore[index]


def test_the_endpoint_is_documented(app: Flask) -> None:
    spec = app.test_client().get("/api/v1/openapi.json").json
    assert spec is not None
    operation = spec["paths"][AI_JOBS]["post"]
    assert set(operation["responses"]) >= {"202", "422", "429", "503"}


def test_queueing_a_generation_while_redis_is_down_is_503(make_app: MakeApp) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{port}/0", REDIS_TIMEOUT=0.1)
    response = app.test_client().post(AI_JOBS, json={"prompt": "Hi"})
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "REDIS_UNAVAILABLE"  # type: ignore[index]
