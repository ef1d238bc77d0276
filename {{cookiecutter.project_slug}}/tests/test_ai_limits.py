"""What AI calls a caller may make: the quota per caller, and replies reused
for deterministic requests. Whose quota a call counts against: see
``test_ai_quota_users.py`` (with auth) or ``test_ai_quota_addresses.py``."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import ValidationError

from app.core.ai import get_ai
from app.core.ai.base import Completion, GenerationRequest
from app.core.ai.errors import AIProviderError
from tests.conftest import MakeApp
from tests.fixtures.ai import GENERATE
from tests.support import make_settings


def exact(make_app: MakeApp, **overrides: Any) -> Flask:
    """An app whose limits count exactly (the default strategy approximates)."""
    return make_app(RATE_LIMIT_STRATEGY="moving-window", RATE_LIMIT_DEFAULT="", **overrides)


def statuses(client: FlaskClient, times: int, **headers: str) -> list[int]:
    return [
        client.post(GENERATE, json={"prompt": "hi"}, headers=headers).status_code
        for _ in range(times)
    ]


def test_the_default_quota_is_ten_ai_requests_an_hour(make_app: MakeApp) -> None:
    client = exact(make_app).test_client()
    assert statuses(client, 11) == [200] * 10 + [429]


def test_beyond_the_quota_is_429_in_the_envelope(make_app: MakeApp) -> None:
    client = exact(make_app, AI_RATE_LIMIT="2/minute").test_client()
    assert statuses(client, 2) == [200, 200]
    refused = client.post(GENERATE, json={"prompt": "hi"})
    assert refused.status_code == 429
    assert refused.json is not None
    assert refused.json["success"] is False
    assert refused.json["error"]["code"] == "RATE_LIMITED"
    assert refused.json["error"]["details"] == {"limit": "2 per 1 minute"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # The quota is for AI calls alone.
    assert client.get("/api/v1/health").status_code == 200


def test_an_empty_quota_means_none(make_app: MakeApp) -> None:
    client = exact(make_app, AI_RATE_LIMIT="").test_client()
    assert statuses(client, 12) == [200] * 12


def test_a_malformed_quota_is_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="AI_RATE_LIMIT"):
        make_settings(AI_RATE_LIMIT="ten per hour")


def test_the_quota_is_documented(make_app: MakeApp) -> None:
    spec = exact(make_app).test_client().get("/api/v1/openapi.json").json
    assert spec is not None
    assert "429" in spec["paths"][GENERATE]["post"]["responses"]


class CountingProvider:
    """Counts the calls that reach the app's provider; can fail them."""

    def __init__(self, app: Flask) -> None:
        with app.app_context():
            self.provider = get_ai().provider
        self.real = self.provider.generate
        self.calls = 0
        self.failing = False
        self.provider.generate = self.generate  # type: ignore[method-assign]

    def generate(self, request: GenerationRequest) -> Completion:
        self.calls += 1
        if self.failing:
            raise AIProviderError()
        return self.real(request)


DETERMINISTIC = {"prompt": "the same question", "temperature": 0}


def test_a_deterministic_request_reuses_the_earlier_reply(make_app: MakeApp) -> None:
    app = make_app(AI_CACHE_TTL=60)
    counting = CountingProvider(app)
    client = app.test_client()
    first = client.post(GENERATE, json=DETERMINISTIC)
    second = client.post(GENERATE, json=DETERMINISTIC)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert first.json is not None
    assert second.json is not None
    assert first.json["data"] == second.json["data"]
    assert first.json["request_id"] != second.json["request_id"]
    assert counting.calls == 1


@pytest.mark.parametrize(
    "other",
    [
        {"prompt": "another question", "temperature": 0},
        {**DETERMINISTIC, "max_tokens": 7},
        {**DETERMINISTIC, "response_schema": {"type": "object"}},
        {"messages": [{"role": "user", "content": "the same question"}], "temperature": 0},
    ],
)
def test_a_different_request_gets_its_own_reply(make_app: MakeApp, other: dict[str, Any]) -> None:
    # A conversation of one user turn is the same request as that prompt alone.
    same = "messages" in other
    app = make_app(AI_CACHE_TTL=60)
    counting = CountingProvider(app)
    client = app.test_client()
    client.post(GENERATE, json=DETERMINISTIC)
    response = client.post(GENERATE, json=other)
    assert response.status_code == 200
    assert response.headers["X-Cache"] == ("HIT" if same else "MISS")
    assert counting.calls == (1 if same else 2)


@pytest.mark.parametrize(
    ("overrides", "body"),
    [
        ({"AI_CACHE_TTL": 60}, {"prompt": "the same question"}),
        ({"AI_CACHE_TTL": 60}, {"prompt": "the same question", "temperature": 0.7}),
        ({}, DETERMINISTIC),
    ],
)
def test_other_requests_always_reach_the_provider(
    make_app: MakeApp, overrides: dict[str, Any], body: dict[str, Any]
) -> None:
    app = make_app(**overrides)
    counting = CountingProvider(app)
    client = app.test_client()
    responses = [client.post(GENERATE, json=body) for _ in range(2)]
    assert [response.status_code for response in responses] == [200, 200]
    assert all("X-Cache" not in response.headers for response in responses)
    assert counting.calls == 2


def test_a_failure_is_not_reused(make_app: MakeApp) -> None:
    app = make_app(AI_CACHE_TTL=60, AI_MAX_RETRIES=0)
    counting = CountingProvider(app)
    client = app.test_client()
    counting.failing = True
    assert client.post(GENERATE, json=DETERMINISTIC).status_code == 502
    counting.failing = False
    response = client.post(GENERATE, json=DETERMINISTIC)
    assert (response.status_code, response.headers["X-Cache"]) == (200, "MISS")
    assert counting.calls == 2


def test_reused_replies_still_count_against_the_quota(make_app: MakeApp) -> None:
    client = exact(make_app, AI_CACHE_TTL=60, AI_RATE_LIMIT="2/minute").test_client()
    codes = [client.post(GENERATE, json=DETERMINISTIC).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
