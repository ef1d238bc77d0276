"""The AI endpoint with the offline fake provider: input checks, the envelope,
streaming, load shedding and the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.core.ai import get_ai
from tests.conftest import MakeApp
from tests.fixtures.ai import GENERATE, events


def test_the_fake_provider_answers_without_a_key(client: FlaskClient) -> None:
    response = client.post(GENERATE, json={"prompt": "hello there"})
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["data"] == {
        "text": "This is the offline fake provider. You said: hello there",
        "data": None,
        "model": "fake-1",
        "provider": "fake",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 2, "completion_tokens": 10, "total_tokens": 12},
    }


def test_the_fake_provider_is_deterministic(client: FlaskClient) -> None:
    body = {"messages": [{"role": "user", "content": "same words"}], "max_tokens": 9}
    first, second = (client.post(GENERATE, json=body).json for _ in range(2))
    assert first is not None
    assert second is not None
    assert first["data"] == second["data"]
    assert first["data"]["finish_reason"] == "length"


def test_the_fake_provider_streams_the_same_text(client: FlaskClient) -> None:
    whole = client.post(GENERATE, json={"prompt": "stream me"}).json
    assert whole is not None
    response = client.post(GENERATE, json={"prompt": "stream me", "stream": True})
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    received = events(response)
    text = "".join(data["text"] for name, data in received if name == "delta")
    assert text == whole["data"]["text"]
    assert received[-1][0] == "done"
    assert received[-1][1]["usage"] == whole["data"]["usage"]


def test_the_fake_provider_answers_a_schema_with_a_matching_value(client: FlaskClient) -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 6},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
            "score": {"type": "number", "minimum": 1.5},
            "draft": {"type": "boolean"},
        },
        "required": ["title", "tags", "score", "draft"],
    }
    response = client.post(GENERATE, json={"prompt": "Describe", "response_schema": schema})
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["data"]["data"] == {
        "title": "fakeee",
        "tags": ["a"],
        "score": 1.5,
        "draft": True,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "(root)"),
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "(root)"),
        ({"messages": [{"role": "system", "content": "only rules"}]}, "(root)"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "a", "temperature": 2.5}, "temperature"),
        ({"prompt": "a", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "a", "stream": True, "response_schema": {"type": "object"}}, "(root)"),
        ({"prompt": "a", "base_url": "http://169.254.169.254/"}, "base_url"),
    ],
)
def test_invalid_requests_are_422(client: FlaskClient, body: dict[str, Any], field: str) -> None:
    response = client.post(GENERATE, json=body)
    assert response.status_code == 422
    assert response.json is not None
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert field in [detail["field"] for detail in response.json["error"]["details"]]


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": "string", "pattern": "^(a+)+$"}, "unsupported_keyword"),
        ({"properties": {"x": {"patternProperties": {"^a": {}}}}}, "unsupported_keyword"),
        ({"$ref": "https://example.com/schema.json"}, "external_ref"),
        ({"anyOf": [{"$ref": "file:///etc/passwd"}]}, "external_ref"),
        ({"type": 5}, "invalid_schema"),
        ({"minLength": -1}, "invalid_schema"),
        (json.loads('{"items": ' * 40 + "{}" + "}" * 40), "schema_too_deep"),
    ],
)
def test_unusable_schemas_are_422(client: FlaskClient, schema: dict[str, Any], kind: str) -> None:
    response = client.post(GENERATE, json={"prompt": "a", "response_schema": schema})
    assert response.status_code == 422
    assert response.json is not None
    (detail,) = response.json["error"]["details"]
    assert (detail["field"], detail["type"]) == ("response_schema", kind)


def test_a_property_named_like_a_keyword_is_fine(client: FlaskClient) -> None:
    schema = {"type": "object", "properties": {"pattern": {"type": "string"}}}
    response = client.post(GENERATE, json={"prompt": "a", "response_schema": schema})
    assert response.status_code == 200


def test_excess_ai_calls_are_shed_with_503(make_app: MakeApp) -> None:
    app = make_app(AI_MAX_CONCURRENT=1)
    with app.app_context():
        slots = get_ai().slots
    with slots.take():
        response = app.test_client().post(GENERATE, json={"prompt": "a"})
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"]["code"] == "AI_BUSY"
    assert response.headers["Retry-After"] == "1"
    assert app.test_client().post(GENERATE, json={"prompt": "a"}).status_code == 200


def test_the_endpoint_is_documented(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").json
    assert spec is not None
    operation = spec["paths"][GENERATE]["post"]
    assert operation["summary"] == "Generate a reply with the configured AI provider."
    assert "text/event-stream" in operation["description"]
    assert {"422", "502", "503", "504"} <= set(operation["responses"])
