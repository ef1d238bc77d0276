"""Every error leaves as the envelope, with a stable code and no internals."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import BaseModel, Field

from app.core.exceptions import ConflictError
from app.core.openapi import validate
from app.core.responses import success
from tests.conftest import MakeApp


class Payload(BaseModel):
    name: str = Field(min_length=1, max_length=5)
    count: int = Field(default=1, ge=1)


class Filters(BaseModel):
    page: int = Field(default=1, ge=1)


def add_test_routes(app: Flask) -> None:
    """Routes that exist only in these tests, to reach each error path."""

    @app.post("/_test/echo")
    @validate(data=dict)
    def echo(json: Payload) -> Any:
        return success(json.model_dump())

    @app.get("/_test/search")
    @validate(data=dict)
    def search(query: Filters) -> Any:
        return success(query.model_dump())

    @app.get("/_test/things/<thing_id>")
    @validate(data=dict)
    def thing(thing_id: int) -> Any:
        return success({"id": thing_id})

    @app.get("/_test/conflict")
    def conflict() -> Any:
        raise ConflictError("Already there.", code="THING_EXISTS", details={"name": "x"})

    @app.get("/_test/crash")
    def crash() -> Any:
        raise RuntimeError("SELECT password FROM users -- internal detail")

    @app.get("/_test/broken-contract")
    @validate(data=Payload)
    def broken_contract() -> Any:
        return success({"name": "far too long a name"})


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    app = make_app(MAX_CONTENT_LENGTH=1024)
    add_test_routes(app)
    return app


def envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert ``response`` is the error envelope with ``status`` and ``code``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.json
    assert body["success"] is False
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["error"]["code"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_unknown_url_is_404(client: FlaskClient) -> None:
    envelope(client.get("/api/v1/does-not-exist"), 404, "NOT_FOUND")


def test_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.delete("/api/v1/health")
    envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD", "OPTIONS"}


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post("/_test/echo", data='{"name": "a",', content_type="application/json")
    envelope(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(client: FlaskClient, content_type: str) -> None:
    response = client.post("/_test/echo", data='{"name": "a"}', content_type=content_type)
    envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_missing_body_is_415(client: FlaskClient) -> None:
    envelope(client.post("/_test/echo"), 415, "UNSUPPORTED_MEDIA_TYPE")


def test_body_over_the_limit_is_413(client: FlaskClient) -> None:
    response = client.post("/_test/echo", json={"name": "a", "pad": "x" * 2048})
    envelope(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("body", ["[]", "[1, 2]", '"text"', "3", "null", "false"])
def test_a_body_that_is_not_an_object_is_422(client: FlaskClient, body: str) -> None:
    response = client.post("/_test/echo", data=body, content_type="application/json")
    details = envelope(response, 422, "VALIDATION_ERROR")
    assert details["error"]["details"][0]["location"] == "body"


def test_invalid_body_lists_every_field(client: FlaskClient) -> None:
    response = client.post("/_test/echo", json={"name": "toolongname", "count": 0})
    body = envelope(response, 422, "VALIDATION_ERROR")
    problems = {problem["field"]: problem for problem in body["error"]["details"]}
    assert set(problems) == {"name", "count"}
    assert problems["name"]["location"] == "body"
    assert problems["name"]["type"] == "string_too_long"
    assert problems["count"]["type"] == "greater_than_equal"


def test_invalid_query_is_422_in_query(client: FlaskClient) -> None:
    body = envelope(client.get("/_test/search?page=0"), 422, "VALIDATION_ERROR")
    (problem,) = body["error"]["details"]
    assert problem["location"] == "query"
    assert problem["field"] == "page"


def test_invalid_path_parameter_is_422_in_path(client: FlaskClient) -> None:
    body = envelope(client.get("/_test/things/abc"), 422, "VALIDATION_ERROR")
    (problem,) = body["error"]["details"]
    assert problem["location"] == "path"
    assert problem["field"] == "thing_id"


def test_valid_input_reaches_the_view(client: FlaskClient) -> None:
    assert client.post("/_test/echo", json={"name": "ok"}).json["data"] == {  # type: ignore[index]
        "name": "ok",
        "count": 1,
    }
    assert client.get("/_test/search?page=3").json["data"] == {"page": 3}  # type: ignore[index]
    assert client.get("/_test/things/7").json["data"] == {"id": 7}  # type: ignore[index]


def test_api_errors_keep_their_code_and_details(client: FlaskClient) -> None:
    body = envelope(client.get("/_test/conflict"), 409, "THING_EXISTS")
    assert body["message"] == "Already there."
    assert body["error"]["details"] == {"name": "x"}


def test_unexpected_errors_are_500_without_internals(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = client.get("/_test/crash")
    body = envelope(response, 500, "INTERNAL_ERROR")
    text = response.get_data(as_text=True)
    assert "SELECT" not in text
    assert "Traceback" not in text
    assert body["error"]["details"] is None
    # The traceback goes to the log, under the same request id.
    assert "SELECT password" in capsys.readouterr().out


def test_a_response_that_breaks_its_schema_is_a_500(client: FlaskClient) -> None:
    envelope(client.get("/_test/broken-contract"), 500, "INTERNAL_ERROR")
