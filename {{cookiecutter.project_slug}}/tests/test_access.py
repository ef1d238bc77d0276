"""Authorization over the whole API: deny by default, admins only where it says so,
items private to their owner, and no password hash ever leaving the server."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from app.core.access import is_privileged, is_public
from app.core.auth.errors import NotAllowed, TokenInvalid
from app.core.auth.guard import ROLE_BLUEPRINTS, Scheme, add_check, add_scheme
from app.core.auth.principal import Principal
from app.models.user import User
from tests.conftest import MakeApp
from tests.fixtures.auth import Login, MakeUser, bearer
from tests.support import SELF_GUARDED_ENDPOINTS

ITEMS = "/api/v1/items"
#: A value for each URL converter the routes use (``1`` for the others).
SAMPLES = {"uuid": "00000000-0000-4000-8000-000000000001"}


def routes(app: Flask) -> Iterator[tuple[str, str, str]]:
    """(endpoint, method, URL with sample values) for every route of the app."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        url = re.sub(
            r"<(?:([^:<>]+):)?[^<>]+>", lambda found: SAMPLES.get(found[1], "1"), rule.rule
        )
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def test_every_route_that_is_not_public_needs_a_token(
    app: Flask, anonymous_client: FlaskClient
) -> None:
    checked = []
    for endpoint, method, url in routes(app):
        if is_public(app.view_functions[endpoint]):
            continue
        response = anonymous_client.open(url, method=method, json={})
        assert response.status_code == 401, (
            f"{method} {url} ({endpoint}) answered {response.status_code}"
        )
        assert response.json["error"]["code"] == "AUTH_REQUIRED"  # type: ignore[index]
        checked.append(endpoint)
    assert "items.list_items" in checked
    assert "users.list_users" in checked


def test_only_marked_views_are_public(app: Flask) -> None:
    public = {endpoint for endpoint, _, _ in routes(app) if is_public(app.view_functions[endpoint])}
    assert (
        public
        == {
            "auth.login",
            "auth.refresh",
            "auth.register",
            "docs.openapi_json",
            "docs.swagger_ui",
            "docs.swagger_ui_file",
            "health.health",
            "health.ready",
            "health.version",
        }
        | SELF_GUARDED_ENDPOINTS
    )


def test_every_admin_route_refuses_a_plain_user(app: Flask, client: FlaskClient) -> None:
    checked = []
    for endpoint, method, url in routes(app):
        view = app.view_functions[endpoint]
        if endpoint.rpartition(".")[0] not in ROLE_BLUEPRINTS and not is_privileged(view):
            continue
        response = client.open(url, method=method, json={})
        assert response.status_code == 403, f"{method} {url} answered {response.status_code}"
        assert response.json["error"]["code"] == "AUTH_FORBIDDEN"  # type: ignore[index]
        checked.append(endpoint)
    assert len(checked) >= 4


def test_a_new_route_is_protected_without_doing_anything() -> None:
    from app import create_app
    from tests.support import make_settings

    app = create_app(make_settings())

    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {"secret": "data"}

    assert app.test_client().get("/api/v1/forgotten").status_code == 401


def test_items_belong_to_their_owner(
    client: FlaskClient,
    anonymous_client: FlaskClient,
    admin_client: FlaskClient,
    make_user: MakeUser,
    login: Login,
) -> None:
    mine = client.post(ITEMS, json={"name": "mine"}).json["data"]  # type: ignore[index]
    intruder = make_user("intruder@example.com")
    theirs = bearer(login(intruder.email)["access_token"])

    for method, body in (("GET", None), ("PATCH", {"name": "stolen"}), ("DELETE", None)):
        response = anonymous_client.open(
            f"{ITEMS}/{mine['id']}", method=method, json=body, headers=theirs
        )
        assert response.status_code == 404, f"{method}: {response.status_code}"
        assert response.json["error"]["code"] == "ITEM_NOT_FOUND"  # type: ignore[index]
    listed = anonymous_client.get(ITEMS, headers=theirs).json["data"]  # type: ignore[index]
    assert listed["count"] == 0

    assert client.get(f"{ITEMS}/{mine['id']}").json["data"]["name"] == "mine"  # type: ignore[index]
    everyone = admin_client.get(ITEMS).json["data"]  # type: ignore[index]
    assert [item["name"] for item in everyone["data"]] == ["mine"]
    assert admin_client.get(f"{ITEMS}/{mine['id']}").status_code == 200


def test_no_response_schema_has_a_password(client: FlaskClient) -> None:
    spec: dict[str, Any] = client.get("/api/v1/openapi.json").json  # type: ignore[assignment]
    names: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    response_schemas = [
        response["content"]["application/json"]["schema"]
        for path in spec["paths"].values()
        for operation in path.values()
        for response in operation["responses"].values()
        if "content" in response
    ]
    for schema in response_schemas:
        collect(schema)
        if "$ref" in schema:
            collect(spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    for name, schema in spec["components"]["schemas"].items():
        if name.endswith(("Public", "Response")):
            collect(schema)
    assert "email" in names
    assert not {name for name in names if "password" in name}


def test_no_response_body_carries_a_hash(
    client: FlaskClient, admin_client: FlaskClient, user: User
) -> None:
    bodies = [
        client.get("/api/v1/auth/me"),
        client.patch("/api/v1/auth/me", json={"full_name": "Still Me"}),
        admin_client.get("/api/v1/users"),
        admin_client.get(f"/api/v1/users/{user.id}"),
        admin_client.patch(f"/api/v1/users/{user.id}", json={"full_name": "Renamed"}),
    ]
    for response in bodies:
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        assert "argon2" not in text
        assert "password" not in text


def test_the_document_declares_bearer_security(client: FlaskClient) -> None:
    spec: dict[str, Any] = client.get("/api/v1/openapi.json").json  # type: ignore[assignment]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    items = spec["paths"]["/api/v1/items"]["get"]
    # Access tokens are accepted last, after the credentials of any other module.
    assert items["security"][-1] == {"bearerAuth": []}
    assert "401" in items["responses"]
    assert "403" in spec["paths"]["/api/v1/users"]["get"]["responses"]
    assert "security" not in spec["paths"]["/api/v1/auth/login"]["post"]
    assert "security" not in spec["paths"]["/api/v1/health"]["get"]


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs"])
def test_public_endpoints_need_no_token(anonymous_client: FlaskClient, path: str) -> None:
    assert anonymous_client.get(path).status_code == 200


def test_item_names_are_unique_per_owner(
    client: FlaskClient, make_user: MakeUser, login: Login, anonymous_client: FlaskClient
) -> None:
    other = make_user("neighbour@example.com")
    as_other = bearer(login(other.email)["access_token"])
    assert client.post(ITEMS, json={"name": "Lamp"}).status_code == 201
    # Another user's private item neither blocks the name nor reveals it.
    assert anonymous_client.post(ITEMS, json={"name": "Lamp"}, headers=as_other).status_code == 201
    again = client.post(ITEMS, json={"name": "Lamp"})
    assert (again.status_code, again.json["error"]["code"]) == (409, "ITEM_NAME_TAKEN")  # type: ignore[index]


def test_a_module_adds_a_scheme_and_a_check(make_app: MakeApp, user: User, login: Login) -> None:
    """What an API-key module plugs into: a scheme asked before the access tokens,
    and a rule that every authenticated request must pass."""
    app = make_app()
    assert user.id is not None
    keyholder = Principal(user.id, uuid.uuid4(), frozenset({"user"}))

    def test_key() -> Principal | None:
        key = request.headers.get("X-Test-Key")
        if key is None:
            return None
        if key != "open-sesame":
            raise TokenInvalid()
        return keyholder

    def reads_only(principal: Principal, _view: Callable[..., Any]) -> None:
        if principal is keyholder and request.method != "GET":
            raise NotAllowed("A test key only reads.")

    openapi = {"type": "apiKey", "in": "header", "name": "X-Test-Key"}
    add_scheme(app, Scheme("testKey", test_key, openapi), first=True)
    add_check(app, reads_only)
    client = FlaskClient(app)

    key = {"X-Test-Key": "open-sesame"}
    assert client.get(ITEMS, headers=key).status_code == 200
    refused = client.post(ITEMS, headers=key, json={"name": "Lamp"})
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "AUTH_FORBIDDEN")  # type: ignore[index]
    wrong = client.get(ITEMS, headers={"X-Test-Key": "open-barley"})
    assert wrong.json["error"]["code"] == "AUTH_TOKEN_INVALID"  # type: ignore[index]
    # Access tokens work as before, and the check lets them write.
    token = bearer(login(user.email)["access_token"])
    assert client.post(ITEMS, headers=token, json={"name": "Lamp"}).status_code == 201

    spec: dict[str, Any] = client.get("/api/v1/openapi.json").json  # type: ignore[assignment]
    assert spec["components"]["securitySchemes"]["testKey"] == openapi
    assert spec["paths"]["/api/v1/items"]["get"]["security"][-2:] == [
        {"testKey": []},
        {"bearerAuth": []},
    ]
