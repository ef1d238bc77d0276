"""API keys: managed by their user, shown once, stored as a keyed hash, limited to
their scopes, kept away from management, account and administration, and refused
alike whatever is wrong with them."""

from __future__ import annotations

import logging
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, update
from sqlmodel import Session

from app.api.api_keys import api_keys, available_scopes, required_scope
from app.core.access import is_public
from app.core.db import get_session
from app.models.api_key import ApiKey
from app.models.base import utcnow
from app.models.user import User
from app.services.api_keys import ApiKeyInvalid
from tests.conftest import MakeApp
from tests.fixtures.auth import Login, MakeUser, bearer
from tests.test_access import routes

KEYS = "/api/v1/api-keys"
ITEMS = "/api/v1/items"


def create_key(client: FlaskClient, *scopes: str, **fields: Any) -> dict[str, Any]:
    response = client.post(KEYS, json={"name": "robot", "scopes": list(scopes), **fields})
    assert response.status_code == 201, response.json
    created: dict[str, Any] = response.json["data"]  # type: ignore[index]
    return created


def key_header(key: dict[str, Any]) -> dict[str, str]:
    return {"X-API-Key": key["key"]}


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json["error"]["code"]


def set_column(connection: Connection, key: dict[str, Any], **values: Any) -> None:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        session.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])).values(**values))  # type: ignore[arg-type]
        session.commit()


def test_a_key_is_shown_once_and_stored_as_a_hash(
    app: Flask, client: FlaskClient, connection: Connection
) -> None:
    key = create_key(client, "items:read")
    label = app.extensions["settings"].API_KEY_PREFIX
    assert key["key"].startswith(f"{label}_{key['prefix']}_")
    secret = key["key"].rsplit("_", 1)[1]
    assert len(secret) == 32

    listed = client.get(KEYS)
    shown = client.get(f"{KEYS}/{key['id']}")
    revoked = client.delete(f"{KEYS}/{key['id']}")
    for response in (listed, shown, revoked):
        assert response.status_code == 200
        assert secret not in response.get_data(as_text=True)
    assert "key" not in listed.json["data"]["data"][0]  # type: ignore[index]
    assert "key" not in shown.json["data"]  # type: ignore[index]
    with Session(bind=connection) as session:
        row = session.get(ApiKey, uuid.UUID(key["id"]))
        assert row is not None
        assert secret not in row.secret_hash
        assert len(row.secret_hash) == 64


def test_create_list_and_revoke(client: FlaskClient) -> None:
    first = create_key(client, "items:read", expires_in_days=30)
    second = create_key(client, "items:read", "items:write")
    listed = client.get(KEYS).json["data"]  # type: ignore[index]
    assert listed["count"] == 2
    assert [key["id"] for key in listed["data"]] == [second["id"], first["id"]]
    assert listed["data"][1]["expires_at"] is not None
    assert listed["data"][0]["expires_at"] is None

    revoked = client.delete(f"{KEYS}/{first['id']}").json["data"]  # type: ignore[index]
    assert revoked["revoked_at"] is not None
    again = client.delete(f"{KEYS}/{first['id']}").json["data"]  # type: ignore[index]
    assert again["revoked_at"] == revoked["revoked_at"]
    assert client.get(ITEMS, headers=key_header(first)).json["error"]["code"] == "API_KEY_REVOKED"  # type: ignore[index]
    assert client.get(ITEMS, headers=key_header(second)).status_code == 200


def test_a_key_acts_as_its_user_within_its_scopes(
    client: FlaskClient, anonymous_client: FlaskClient
) -> None:
    reader = create_key(client, "items:read")
    writer = create_key(client, "items:write", "items:read")
    made = anonymous_client.post(ITEMS, json={"name": "Lamp"}, headers=key_header(writer))
    assert made.status_code == 201
    # The user's own token sees the item: the key wrote as its user.
    assert client.get(f"{ITEMS}/{made.json['data']['id']}").status_code == 200  # type: ignore[index]
    # Both ways of sending a key work.
    for headers in (key_header(reader), bearer(reader["key"])):
        listed = anonymous_client.get(ITEMS, headers=headers)
        assert listed.status_code == 200
        assert listed.json["data"]["count"] == 1  # type: ignore[index]

    refused = anonymous_client.post(ITEMS, json={"name": "Desk"}, headers=bearer(reader["key"]))
    assert error_of(refused) == (403, "API_KEY_SCOPE_MISSING")
    assert refused.json["error"]["details"] == {"scope": "items:write"}  # type: ignore[index]


def test_scopes_come_from_the_routes(app: Flask, client: FlaskClient) -> None:
    scopes = client.get(f"{KEYS}/scopes").json["data"]["scopes"]  # type: ignore[index]
    assert {"items:read", "items:write"} <= set(scopes)
    assert not {scope for scope in scopes if scope.split(":")[0] in {"auth", "api_keys", "users"}}
    assert set(scopes) == available_scopes(app)

    unknown = client.post(KEYS, json={"name": "x", "scopes": ["users:read"]})
    assert error_of(unknown) == (422, "VALIDATION_ERROR")
    malformed = client.post(KEYS, json={"name": "x", "scopes": ["everything"]})
    assert error_of(malformed) == (422, "VALIDATION_ERROR")
    assert error_of(client.post(KEYS, json={"name": "x", "scopes": []})) == (
        422,
        "VALIDATION_ERROR",
    )


def test_a_key_never_reaches_management_account_or_administration(
    app: Flask,
    client: FlaskClient,
    anonymous_client: FlaskClient,
    make_user: MakeUser,
    login: Login,
) -> None:
    admin = make_user("root@example.com", roles=("user", "admin"))
    as_admin = bearer(login(admin.email)["access_token"])
    every_scope = sorted(available_scopes(app))
    key = anonymous_client.post(KEYS, json={"name": "all", "scopes": every_scope}, headers=as_admin)
    headers = key_header(key.json["data"])  # type: ignore[index]
    checked = []
    for endpoint, method, url in routes(app):
        view = app.view_functions[endpoint]
        if is_public(view) or required_scope(endpoint.rpartition(".")[0], method, view):
            continue
        response = anonymous_client.open(url, method=method, json={}, headers=headers)
        assert error_of(response) == (403, "API_KEY_NOT_ALLOWED"), f"{method} {url}"
        checked.append(endpoint)
    assert {"auth.me", "auth.update_me", "auth.change_password", "api_keys.create_key"} <= set(
        checked
    )
    assert "users.list_users" in checked
    # An administrator's key acts as a plain user: their own rows only.
    anonymous_client.post(ITEMS, json={"name": "Mine"})
    client.post(ITEMS, json={"name": "Theirs"})
    assert anonymous_client.get(ITEMS, headers=headers).json["data"]["count"] == 0  # type: ignore[index]
    assert anonymous_client.get(ITEMS, headers=as_admin).json["data"]["count"] == 1  # type: ignore[index]


def test_forged_truncated_unknown_revoked_and_expired_keys_are_refused(
    client: FlaskClient, anonymous_client: FlaskClient, connection: Connection
) -> None:
    key = create_key(client, "items:read")
    text = key["key"]
    label, prefix, secret = text.rsplit("_", 2)
    forged_secret = ("a" if secret[0] != "a" else "b") + secret[1:]
    attempts = {
        "forged": f"{label}_{prefix}_{forged_secret}",
        "truncated": text[:-1],
        "extended": text + "a",
        "unknown prefix": f"{label}_{'a' * 8}_{secret}",
        "other label": f"other_{prefix}_{secret}",
        "garbage": "not a key",
        "empty": " ",
    }
    for name, attempt in attempts.items():
        response = anonymous_client.get(ITEMS, headers={"X-API-Key": attempt})
        assert error_of(response) == (401, "API_KEY_INVALID"), name
        assert response.headers["WWW-Authenticate"]
    # A bearer token that is not a key is an access token, and checked as one.
    assert error_of(anonymous_client.get(ITEMS, headers=bearer("other_x_y"))) == (
        401,
        "AUTH_TOKEN_INVALID",
    )

    expiring = create_key(client, "items:read", expires_in_days=1)
    set_column(connection, expiring, expires_at=utcnow() - timedelta(seconds=1))
    refused = anonymous_client.get(ITEMS, headers=key_header(expiring))
    assert error_of(refused) == (401, "API_KEY_EXPIRED")

    client.delete(f"{KEYS}/{key['id']}")
    assert error_of(anonymous_client.get(ITEMS, headers=key_header(key))) == (
        401,
        "API_KEY_REVOKED",
    )


def test_a_disabled_user_s_keys_stop_working(
    client: FlaskClient, admin_client: FlaskClient, anonymous_client: FlaskClient, user: User
) -> None:
    key = create_key(client, "items:read")
    assert anonymous_client.get(ITEMS, headers=key_header(key)).status_code == 200
    assert admin_client.post(f"/api/v1/users/{user.id}/deactivate").status_code == 200
    refused = anonymous_client.get(ITEMS, headers=key_header(key))
    assert error_of(refused) == (403, "AUTH_ACCOUNT_DISABLED")


def test_another_users_key_is_not_found(
    client: FlaskClient, anonymous_client: FlaskClient, make_user: MakeUser, login: Login
) -> None:
    mine = create_key(client, "items:read")
    other = bearer(login(make_user("other@example.com").email)["access_token"])
    for method in ("GET", "DELETE"):
        response = anonymous_client.open(f"{KEYS}/{mine['id']}", method=method, headers=other)
        assert error_of(response) == (404, "API_KEY_NOT_FOUND"), method
    assert anonymous_client.get(KEYS, headers=other).json["data"]["count"] == 0  # type: ignore[index]
    assert anonymous_client.get(ITEMS, headers=key_header(mine)).status_code == 200
    missing = client.get(f"{KEYS}/{uuid.uuid4()}")
    assert error_of(missing) == (404, "API_KEY_NOT_FOUND")


def test_a_user_has_a_bounded_number_of_keys(make_app: MakeApp) -> None:
    client = make_app(API_KEY_MAX_PER_USER=2).test_client()
    first = create_key(client, "items:read")
    create_key(client, "items:read")
    refused = client.post(KEYS, json={"name": "third", "scopes": ["items:read"]})
    assert error_of(refused) == (409, "API_KEY_LIMIT")
    client.delete(f"{KEYS}/{first['id']}")
    create_key(client, "items:read")


def test_unknown_and_known_prefixes_cost_the_same(app: Flask, client: FlaskClient) -> None:
    """The same HMAC work on both paths, and no telling them apart by their median time."""
    text = create_key(client, "items:read")["key"]
    label, prefix, secret = text.rsplit("_", 2)
    wrong = ("a" if secret[0] != "a" else "b") + secret[1:]
    known, unknown = f"{label}_{prefix}_{wrong}", f"{label}_{'z' * 8}_{wrong}"
    with app.test_request_context(ITEMS):
        keys = api_keys()
        if keys.states is not None:
            # A minute after its creation: the mark that a new key sets is gone.
            keys.states.backend.delete(keys.states.key(prefix))
        digests: list[str] = []
        digest = keys.hasher.digest
        keys.hasher.digest = lambda value: digests.append(value) or digest(value)  # type: ignore[method-assign,func-returns-value]
        for attempt in (known, unknown):
            with pytest.raises(ApiKeyInvalid):
                keys.verify(get_session, attempt)
        assert digests == [wrong, wrong]
        keys.hasher.digest = digest  # type: ignore[method-assign]

        timings: dict[str, list[float]] = {known: [], unknown: []}
        for _ in range(300):
            for attempt in (known, unknown):  # interleaved: both meet the same noise
                started = time.perf_counter()
                with pytest.raises(ApiKeyInvalid):
                    keys.verify(get_session, attempt)
                timings[attempt].append(time.perf_counter() - started)
    ratio = statistics.median(timings[known]) / statistics.median(timings[unknown])
    assert 0.5 < ratio < 2, ratio


def test_keys_never_reach_the_logs(
    app: Flask,
    client: FlaskClient,
    anonymous_client: FlaskClient,
    connection: Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        key = create_key(client, "items:read")
        expiring = create_key(client, "items:read", expires_in_days=1)
        set_column(connection, expiring, expires_at=utcnow() - timedelta(seconds=1))
        label, prefix, secret = key["key"].rsplit("_", 2)
        for headers in (
            key_header(key),
            bearer(key["key"]),
            {"X-API-Key": key["key"][:-1]},
            {"X-API-Key": f"{label}_{prefix}_{'b' * 32}"},
            key_header(expiring),
        ):
            anonymous_client.get(ITEMS, headers=headers)
            anonymous_client.post(ITEMS, json={"name": "x"}, headers=headers)
            anonymous_client.get("/api/v1/auth/me", headers=headers)
        client.delete(f"{KEYS}/{key['id']}")
        anonymous_client.get(ITEMS, headers=key_header(key))
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "/api/v1/items" in logged  # the requests were logged
    for leaked in (secret, expiring["key"].rsplit("_", 1)[1], key["key"][:-1].rsplit("_", 1)[1]):
        assert leaked not in logged


def test_last_use_is_written_at_most_once_a_minute(
    client: FlaskClient, anonymous_client: FlaskClient
) -> None:
    key = create_key(client, "items:read")
    assert key["last_used_at"] is None
    anonymous_client.get(ITEMS, headers=key_header(key))
    first = client.get(f"{KEYS}/{key['id']}").json["data"]["last_used_at"]  # type: ignore[index]
    assert first is not None
    anonymous_client.get(ITEMS, headers=key_header(key))
    assert client.get(f"{KEYS}/{key['id']}").json["data"]["last_used_at"] == first  # type: ignore[index]


def test_each_key_has_its_own_rate_limit(make_app: MakeApp, anonymous_client: FlaskClient) -> None:
    app = make_app(RATE_LIMIT_DEFAULT="3/minute")
    client = app.test_client()
    first, second = create_key(client, "items:read"), create_key(client, "items:read")
    guest = FlaskClient(app)
    codes = [guest.get(ITEMS, headers=key_header(first)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert guest.get(ITEMS, headers=key_header(second)).status_code == 200
    # The user's token counts apart from its keys (two keys were created with it).
    assert client.get(ITEMS).status_code == 200


def test_the_document_names_both_schemes_and_each_operation_s_scope(client: FlaskClient) -> None:
    spec: dict[str, Any] = client.get("/api/v1/openapi.json").json  # type: ignore[assignment]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["apiKey"]["type"] == "apiKey"
    assert schemes["apiKey"]["name"] == "X-API-Key"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    paths = spec["paths"]
    assert paths["/api/v1/items"]["get"]["security"] == [
        {"apiKey": ["items:read"]},
        {"bearerAuth": []},
    ]
    assert {"apiKey": ["items:write"]} in paths["/api/v1/items"]["post"]["security"]
    assert "403" in paths["/api/v1/items"]["post"]["responses"]
    for path, method in ((KEYS, "post"), ("/api/v1/auth/me", "get"), ("/api/v1/users", "get")):
        assert paths[path][method]["security"] == [{"bearerAuth": []}], path


def test_operators_list_and_revoke_keys(
    app: Flask, client: FlaskClient, anonymous_client: FlaskClient, user: User
) -> None:
    key = create_key(client, "items:read")
    secret = key["key"].rsplit("_", 1)[1]
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["api-keys", "list", user.email])
    assert listed.exit_code == 0, listed.output
    assert key["prefix"] in listed.output
    assert secret not in listed.output

    unknown = runner.invoke(args=["api-keys", "revoke", "nosuchkey"])
    assert unknown.exit_code == 1
    assert "No API key" in unknown.output
    revoked = runner.invoke(args=["api-keys", "revoke", key["prefix"]])
    assert revoked.exit_code == 0, revoked.output
    assert error_of(anonymous_client.get(ITEMS, headers=key_header(key))) == (
        401,
        "API_KEY_REVOKED",
    )
    other = create_key(client, "items:read")
    assert runner.invoke(args=["api-keys", "revoke", other["id"]]).exit_code == 0
    assert "revoked" in runner.invoke(args=["api-keys", "list", user.email]).output
