"""The OpenAPI document and the interactive docs."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from openapi_spec_validator import validate as validate_spec

from tests.conftest import MakeApp
from tests.support import PRODUCTION


def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def test_the_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    spec = document(client)
    assert spec["openapi"].startswith("3.1")
    validate_spec(spec)


def test_every_operation_documents_errors_with_the_envelope(client: FlaskClient) -> None:
    spec = document(client)
    error_schema = "#/components/schemas/ErrorResponse"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "500" in responses, f"{method.upper()} {path} does not document 500"
            for status, response in responses.items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema["$ref"] == error_schema, f"{method.upper()} {path} {status}"


def test_operations_with_input_document_422(client: FlaskClient) -> None:
    spec = document(client)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in operation["responses"], f"{method.upper()} {path}"


def test_summaries_come_from_view_docstrings(client: FlaskClient) -> None:
    operation = document(client)["paths"]["/api/v1/health"]["get"]
    assert operation["summary"] == "Liveness: the process is up. Checks no dependency."


def test_the_docs_page_loads_the_document(client: FlaskClient) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "/api/v1/openapi.json" in response.get_data(as_text=True)


def test_the_docs_page_needs_no_other_site(client: FlaskClient) -> None:
    """Swagger UI comes from the app itself, so the page works offline."""
    page = client.get("/api/v1/docs").get_data(as_text=True)
    linked = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert {"/api/v1/docs/files/swagger-ui-bundle.js", "/api/v1/docs/files/swagger-ui.css"} <= set(
        linked
    )
    for url in linked:
        assert url.startswith("/"), f"{url} is on another site"
        with client.get(url) as response:
            assert response.status_code == 200, url
            assert len(response.get_data()) > 100, url
    with client.get("/api/v1/docs/files/swagger-ui-bundle.js") as script:
        assert "javascript" in script.mimetype
    assert client.get("/api/v1/docs/files/../../config.py").status_code == 404


def test_the_docs_are_off_in_production_unless_turned_on(make_app: MakeApp) -> None:
    closed = make_app(**PRODUCTION).test_client()
    assert closed.get("/api/v1/openapi.json").status_code == 404
    assert closed.get("/api/v1/docs").status_code == 404
    opened = make_app(**PRODUCTION, API_DOCS_ENABLED=True).test_client()
    assert opened.get("/api/v1/openapi.json").status_code == 200
    off = make_app(API_DOCS_ENABLED=False).test_client()
    assert off.get("/api/v1/docs").status_code == 404


def test_every_operation_documents_the_statuses_the_stack_answers(client: FlaskClient) -> None:
    spec = document(client)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"414", "500", "503"} <= set(responses), f"{method.upper()} {path}"
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= set(responses), f"{method.upper()} {path}"
