"""Auth with Redis: jobs belong to their owner, session states are cached in
Redis with the database as the source of truth, and two app processes sharing
one Redis and one database agree at once on a revoked session."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from app.core.cache import get_cache
from app.services.sessions import SessionStates
from tests import sample_jobs
from tests.conftest import MakeApp
from tests.fixtures.auth import Login, MakeUser, bearer, tokens
from tests.test_jobs import enqueue
from tests.test_two_instances import call

JOBS = "/api/v1/jobs"
ME = "/api/v1/auth/me"


def cached_state(app: Flask, session_id: str) -> Any:
    with app.app_context():
        return get_cache().get(session_id, namespace=SessionStates.NAMESPACE)


def test_a_job_is_visible_to_its_owner_and_to_admins_only(
    app: Flask,
    client: FlaskClient,
    admin_client: FlaskClient,
    anonymous_client: FlaskClient,
    make_user: MakeUser,
    login: Login,
) -> None:
    location = f"{JOBS}/{enqueue(app, sample_jobs.add, args=[1, 2]).id}"
    assert client.get(location).status_code == 200
    assert admin_client.get(location).status_code == 200

    other = make_user("other@example.com")
    as_other = bearer(login(other.email)["access_token"])
    response = anonymous_client.get(location, headers=as_other)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "JOB_NOT_FOUND"  # type: ignore[index]


def test_only_administrators_purge_the_cache(
    client: FlaskClient, admin_client: FlaskClient
) -> None:
    refused = client.post(f"{JOBS}/cache-purge")
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "AUTH_FORBIDDEN")  # type: ignore[index]
    assert admin_client.post(f"{JOBS}/cache-purge").status_code == 202


def test_session_states_are_served_from_redis_and_dropped_on_revocation(
    app: Flask, anonymous_client: FlaskClient, make_user: MakeUser, login: Login
) -> None:
    user = make_user("cached@example.com")
    tokens = login(user.email)
    headers = bearer(tokens["access_token"])
    sessions = anonymous_client.get("/api/v1/auth/sessions", headers=headers)
    (session,) = sessions.json["data"]["data"]  # type: ignore[index]
    state = cached_state(app, session["id"])
    assert state["user_id"] == user.id
    assert state["usable_until"] > 0

    assert anonymous_client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    # The revocation committed, so the cached copy is gone, and the next request
    # reads the revoked session from the database.
    assert cached_state(app, session["id"]) is None
    assert anonymous_client.get(ME, headers=headers).status_code == 401
    assert cached_state(app, session["id"])["usable_until"] == 0


def test_a_flushed_cache_neither_revives_nor_ends_sessions(
    anonymous_client: FlaskClient,
    make_user: MakeUser,
    login: Login,
    redis_client: Redis,
    redis_key_prefix: str,
) -> None:
    user = make_user("flushed@example.com")
    live, ended = login(user.email), login(user.email)
    for pair in (live, ended):
        assert anonymous_client.get(ME, headers=bearer(pair["access_token"])).status_code == 200
    anonymous_client.post("/api/v1/auth/logout", headers=bearer(ended["access_token"]))

    keys = list(redis_client.scan_iter(match=f"{redis_key_prefix}*"))
    assert keys
    redis_client.delete(*keys)

    assert anonymous_client.get(ME, headers=bearer(live["access_token"])).status_code == 200
    assert anonymous_client.get(ME, headers=bearer(ended["access_token"])).status_code == 401


def test_without_redis_sessions_are_checked_in_the_database(
    make_app: MakeApp, make_user: MakeUser
) -> None:
    app = make_app(REDIS_URL="redis://127.0.0.1:9/0", REDIS_TIMEOUT=0.05)
    user = make_user("outage@example.com")
    client = FlaskClient(app)
    headers = bearer(tokens(app, user.email)["access_token"])
    assert client.get(ME, headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get(ME, headers=headers).status_code == 401


@pytest.mark.xdist_group("processes")
def test_a_session_revoked_through_one_instance_is_refused_by_the_other(
    instances: tuple[str, str],
) -> None:
    first, second = instances
    account = {"email": "twice@example.com", "password": "a long passphrase", "full_name": "T"}
    assert call("POST", f"{first}/api/v1/auth/register", account)[0] == 201
    credentials = {"email": account["email"], "password": account["password"]}
    status, _, body = call("POST", f"{first}/api/v1/auth/login", credentials)
    assert status == 200, body
    token = body["data"]["access_token"]

    # Both instances accept it (and the second now holds its state in Redis) ...
    for base in instances:
        assert call("GET", f"{base}{ME}", headers=bearer(token))[0] == 200
    # ... until it is revoked through the first: the second refuses it at once.
    assert call("POST", f"{first}/api/v1/auth/logout", headers=bearer(token))[0] == 204
    status, _, body = call("GET", f"{second}{ME}", headers=bearer(token))
    assert status == 401
    assert body["error"]["code"] == "AUTH_TOKEN_REVOKED"
