"""Every error leaves as the envelope, with a stable code and no internals."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import BaseModel, ConfigDict, Field

from app.core.errors import MAX_LISTED_PROBLEMS
from app.core.exceptions import ConflictError
from app.core.logs import MAX_LOG_FIELD_CHARS
from app.core.openapi import validate
from app.core.responses import success
from tests.conftest import MakeApp


class Payload(BaseModel):
    name: str = Field(min_length=1, max_length=5)
    count: int = Field(default=1, ge=1)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str


class Filters(BaseModel):
    page: int = Field(default=1, ge=1)


# Views that exist only in these tests, to reach each error path. They are
# decorated once, here, and added to each app a test builds: documenting a view
# (its models' JSON schemas) costs more than building the app.


@validate(data=dict)
def echo(json: Payload) -> Any:
    return success(json.model_dump())


@validate(data=dict)
def search(query: Filters) -> Any:
    return success(query.model_dump())


@validate(data=dict)
def thing(thing_id: int) -> Any:
    return success({"id": thing_id})


@validate(data=dict)
def strict(json: Strict) -> Any:
    return success(json.model_dump())


def conflict() -> Any:
    raise ConflictError("Already there.", code="THING_EXISTS", details={"name": "x"})


def crash() -> Any:
    raise RuntimeError("SELECT password FROM users -- internal detail")


@validate(data=Payload)
def broken_contract() -> Any:
    return success({"name": "far too long a name"})


TEST_ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("/_test/echo", "POST", echo),
    ("/_test/search", "GET", search),
    ("/_test/things/<thing_id>", "GET", thing),
    ("/_test/strict", "POST", strict),
    ("/_test/conflict", "GET", conflict),
    ("/_test/crash", "GET", crash),
    ("/_test/broken-contract", "GET", broken_contract),
]


def add_test_routes(app: Flask) -> None:
    for rule, method, view in TEST_ROUTES:
        app.add_url_rule(rule, view_func=view, methods=[method])


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


# Bounded work before validation: however a request is built, refusing it is cheap.


def test_a_deeply_nested_body_is_400(make_app: MakeApp) -> None:
    app = make_app()
    add_test_routes(app)
    body = '{"name": ' + "[" * 1000 + "]" * 1000 + "}"
    response = app.test_client().post("/_test/echo", data=body, content_type="application/json")
    envelope(response, 400, "JSON_TOO_COMPLEX")


def test_a_body_nested_past_the_limit_is_400(make_app: MakeApp) -> None:
    app = make_app(MAX_JSON_DEPTH=4)
    add_test_routes(app)
    client = app.test_client()
    assert client.post("/_test/echo", json={"name": "ok", "a": {"b": {"c": 1}}}).status_code == 200
    response = client.post("/_test/echo", json={"name": "ok", "a": {"b": {"c": {"d": {}}}}})
    envelope(response, 400, "JSON_TOO_COMPLEX")


def test_a_body_with_too_many_members_is_400_and_cheap(make_app: MakeApp) -> None:
    app = make_app(MAX_CONTENT_LENGTH=4 * 1024 * 1024)
    add_test_routes(app)
    body = {f"k{index}": 0 for index in range(90_000)}
    response = app.test_client().post("/_test/echo", json=body)
    # Refused by the parser: no model saw the body, no problem was listed.
    envelope(response, 400, "JSON_TOO_COMPLEX")
    assert len(response.get_data()) < 1024


def test_a_list_of_problems_is_capped(client: FlaskClient) -> None:
    body = {"name": "ok", **{f"unknown{index}": 0 for index in range(30)}}
    response = client.post("/_test/strict", json=body)
    details = envelope(response, 422, "VALIDATION_ERROR")
    assert len(details["error"]["details"]) == MAX_LISTED_PROBLEMS
    assert f"first {MAX_LISTED_PROBLEMS} of 30 problems" in details["message"]


def test_a_url_over_the_limit_is_414(client: FlaskClient) -> None:
    response = client.get("/_test/search?page=1&pad=" + "x" * 3000)
    envelope(response, 414, "URI_TOO_LONG")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"name": "ok", "nested": {"de\x00ep": 1}}, "nested.de\x00ep"),
        ({"name": "ok", "list": ["fine", "no\x00pe"]}, "list.1"),
    ],
)
def test_text_a_database_cannot_store_is_422_in_the_body(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/_test/echo", json=body)
    (problem,) = envelope(response, 422, "VALIDATION_ERROR")["error"]["details"]
    assert (problem["location"], problem["field"]) == ("body", field)
    assert problem["type"] == "string_unstorable_character"


def test_an_unpaired_surrogate_is_422(client: FlaskClient) -> None:
    response = client.post(
        "/_test/echo", data='{"name": "a\\ud800b"}', content_type="application/json"
    )
    details = envelope(response, 422, "VALIDATION_ERROR")["error"]["details"]
    assert details[0]["type"] == "string_unstorable_character"


def test_nul_in_the_query_or_the_path_is_422(client: FlaskClient) -> None:
    query = envelope(client.get("/_test/search?page=1&page=%00"), 422, "VALIDATION_ERROR")
    assert query["error"]["details"][0]["location"] == "query"
    path = envelope(client.get("/_test/things/1%00"), 422, "VALIDATION_ERROR")
    assert path["error"]["details"][0]["location"] == "path"


@pytest.mark.parametrize("raw", ["1.0", "+7", "%207", "07", "7%20", "1e1", "0x7", "1_0"])
def test_an_integer_in_the_path_is_plain_digits(client: FlaskClient, raw: str) -> None:
    response = client.get(f"/_test/things/{raw}")
    details = envelope(response, 422, "VALIDATION_ERROR")["error"]["details"]
    assert (details[0]["location"], details[0]["type"]) == ("path", "int_parsing")


@pytest.mark.parametrize("raw", ["1.0", "+2", "02"])
def test_an_integer_in_the_query_is_plain_digits(client: FlaskClient, raw: str) -> None:
    response = client.get(f"/_test/search?page={raw}")
    details = envelope(response, 422, "VALIDATION_ERROR")["error"]["details"]
    assert (details[0]["location"], details[0]["type"]) == ("query", "int_parsing")


def test_a_huge_log_record_makes_a_bounded_line(capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("app.test").warning("start %s end", "x" * 1_000_000)
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "app.test" in line]
    entry = json.loads(line)
    assert len(line) < 2 * MAX_LOG_FIELD_CHARS
    assert entry["message"].startswith("start ")
    assert entry["message"].endswith(" end")
