"""Auth with Redis: jobs belong to their owner, session and user states are shared
in Redis with the database as the source of truth, and a change that Redis cannot
confirm (paused, stopped) is refused, so that no server keeps accepting the old
state once a sign-out, password change, role change, refresh-token reuse or
delete has answered 2xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from app.api.auth import authenticator
from app.models.user import User
from app.services.sessions import SessionStates
from tests import sample_jobs
from tests.conftest import MakeApp
from tests.fixtures.auth import PASSWORD, Login, MakeUser, bearer, tokens
from tests.fixtures.redis import OwnRedis
from tests.test_jobs import enqueue
from tests.test_two_instances import call

JOBS = "/api/v1/jobs"
ME = "/api/v1/auth/me"
LOGOUT = "/api/v1/auth/logout"
REFRESH = "/api/v1/auth/refresh"
PASSWORD_URL = "/api/v1/auth/password"
USERS = "/api/v1/users"


def stored(app: Flask, key: str) -> Any:
    """What the shared session states hold under ``key`` (``session:<id>``, ``user:<id>``)."""
    with app.app_context():
        states = authenticator().states
        assert states is not None
        raw = states.backend.get(states.prefix + key)
    return raw if raw in (None, SessionStates.CHANGING) else json.loads(raw)


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


def test_session_and_user_states_are_shared_and_marked_on_revocation(
    app: Flask, anonymous_client: FlaskClient, make_user: MakeUser, login: Login
) -> None:
    user = make_user("cached@example.com")
    headers = bearer(login(user.email)["access_token"])
    sessions = anonymous_client.get("/api/v1/auth/sessions", headers=headers)
    (session,) = sessions.json["data"]["data"]  # type: ignore[index]
    assert stored(app, f"session:{session['id']}")["user_id"] == user.id
    assert stored(app, f"user:{user.id}") == {"roles": ["user"], "active": True}

    assert anonymous_client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    # Marked before the revocation committed: every process now asks the
    # database, and no copy read before the commit can be stored after it.
    assert stored(app, f"session:{session['id']}") == SessionStates.CHANGING
    assert anonymous_client.get(ME, headers=headers).status_code == 401
    assert stored(app, f"session:{session['id']}") == SessionStates.CHANGING


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


def test_without_redis_requests_are_checked_in_the_database_and_sign_outs_wait(
    make_app: MakeApp, make_user: MakeUser
) -> None:
    app = make_app(REDIS_URL="redis://127.0.0.1:9/0", REDIS_TIMEOUT=0.05)
    user = make_user("outage@example.com")
    client = FlaskClient(app)
    headers = bearer(tokens(app, user.email)["access_token"])
    assert client.get(ME, headers=headers).status_code == 200
    # Other servers may hold a copy of this session that Redis can no longer
    # mark: the sign-out is refused, and nothing changes.
    refused = client.post("/api/v1/auth/logout", headers=headers)
    assert refused.status_code == 503
    assert refused.json["error"]["code"] == "AUTH_STATE_UNAVAILABLE"  # type: ignore[index]
    assert refused.headers["Retry-After"] == "1"
    assert client.get(ME, headers=headers).status_code == 200


# -- Redis faults at the moment of a change, with a redis-server of the test's own


@contextmanager
def fault(server: OwnRedis, kind: str) -> Iterator[None]:
    """Redis paused (SIGSTOP: connections stay open, nothing answers) or stopped
    (SIGKILL) for the duration of the block, then resumed or restarted."""
    if kind == "paused":
        server.pause()
    else:
        server.stop()
    try:
        yield
    finally:
        if kind == "paused":
            server.resume()
        else:
            server.start()


@pytest.fixture
def two_servers(make_app: MakeApp, own_redis: OwnRedis) -> tuple[FlaskClient, FlaskClient]:
    """Clients of two apps (two servers, as far as state goes) on one Redis and one database."""
    first, second = (make_app(REDIS_URL=own_redis.url, REDIS_TIMEOUT=0.1) for _ in range(2))
    return FlaskClient(first), FlaskClient(second)


def refused(response: Any, code: str) -> bool:
    return (response.status_code, response.json["error"]["code"]) == (503, code)


@pytest.mark.parametrize("kind", ["paused", "stopped"])
def test_a_sign_out_redis_cannot_confirm_is_refused_and_changes_nothing(
    two_servers: tuple[FlaskClient, FlaskClient], own_redis: OwnRedis, user: User, kind: str
) -> None:
    first, second = two_servers
    headers = bearer(tokens(first.application, user.email)["access_token"])
    assert second.get(ME, headers=headers).status_code == 200  # the second holds a copy
    with fault(own_redis, kind):
        assert refused(first.post(LOGOUT, headers=headers), "AUTH_STATE_UNAVAILABLE")
    assert second.get(ME, headers=headers).status_code == 200
    assert first.post(LOGOUT, headers=headers).status_code == 204
    assert second.get(ME, headers=headers).status_code == 401


def test_a_sign_out_survives_a_restarted_or_flushed_redis(
    two_servers: tuple[FlaskClient, FlaskClient], own_redis: OwnRedis, user: User
) -> None:
    first, second = two_servers
    headers = bearer(tokens(first.application, user.email)["access_token"])
    assert second.get(ME, headers=headers).status_code == 200
    assert first.post(LOGOUT, headers=headers).status_code == 204
    own_redis.restart()
    assert second.get(ME, headers=headers).status_code == 401
    Redis.from_url(own_redis.url).flushall()
    assert second.get(ME, headers=headers).status_code == 401


def test_a_password_change_ends_other_sessions_on_every_server_or_nowhere(
    two_servers: tuple[FlaskClient, FlaskClient], own_redis: OwnRedis, user: User
) -> None:
    first, second = two_servers
    this = bearer(tokens(first.application, user.email)["access_token"])
    other = bearer(tokens(first.application, user.email)["access_token"])
    assert second.get(ME, headers=other).status_code == 200
    change = {"current_password": PASSWORD, "new_password": "another long passphrase"}
    with fault(own_redis, "paused"):
        response = first.post(PASSWORD_URL, json=change, headers=this)
        assert refused(response, "AUTH_STATE_UNAVAILABLE")
    assert second.get(ME, headers=other).status_code == 200
    assert first.post(PASSWORD_URL, json=change, headers=this).status_code == 204
    assert second.get(ME, headers=other).status_code == 401
    assert second.get(ME, headers=this).status_code == 200


def test_a_role_change_reaches_every_server_or_none(
    two_servers: tuple[FlaskClient, FlaskClient],
    own_redis: OwnRedis,
    admin: User,
    make_user: MakeUser,
) -> None:
    first, second = two_servers
    demoted = make_user("second-admin@example.com", roles=("user", "admin"))
    as_admin = bearer(tokens(first.application, admin.email)["access_token"])
    as_demoted = bearer(tokens(first.application, demoted.email)["access_token"])
    assert second.get(USERS, headers=as_demoted).status_code == 200
    change = {"roles": ["user"]}
    with fault(own_redis, "paused"):
        response = first.patch(f"{USERS}/{demoted.id}", json=change, headers=as_admin)
        assert refused(response, "AUTH_STATE_UNAVAILABLE")
    assert second.get(USERS, headers=as_demoted).status_code == 200
    assert first.patch(f"{USERS}/{demoted.id}", json=change, headers=as_admin).status_code == 200
    assert second.get(USERS, headers=as_demoted).status_code == 403


def test_a_reused_refresh_token_revokes_its_session_everywhere_or_is_answered_503(
    two_servers: tuple[FlaskClient, FlaskClient], own_redis: OwnRedis, user: User
) -> None:
    first, second = two_servers
    pair = tokens(first.application, user.email)
    headers = bearer(pair["access_token"])
    assert second.get(ME, headers=headers).status_code == 200
    old = {"refresh_token": pair["refresh_token"]}
    assert first.post(REFRESH, json=old).status_code == 200
    with fault(own_redis, "paused"):
        assert refused(first.post(REFRESH, json=old), "AUTH_STATE_UNAVAILABLE")
    reused = first.post(REFRESH, json=old)
    assert reused.json["error"]["code"] == "AUTH_TOKEN_REVOKED"  # type: ignore[index]
    assert second.get(ME, headers=headers).status_code == 401


def test_a_deleted_item_is_never_served_from_the_cache_again(
    two_servers: tuple[FlaskClient, FlaskClient], own_redis: OwnRedis, user: User
) -> None:
    first, second = two_servers
    headers = bearer(tokens(first.application, user.email)["access_token"])
    created = first.post("/api/v1/items", json={"name": "doomed"}, headers=headers)
    url = f"/api/v1/items/{created.json['data']['id']}"  # type: ignore[index]
    second.get(url, headers=headers)
    assert second.get(url, headers=headers).headers["X-Cache"] == "HIT"
    with fault(own_redis, "paused"):
        assert refused(first.delete(url, headers=headers), "CACHE_UNAVAILABLE")
    assert second.get(url, headers=headers).status_code == 200  # it was not deleted
    assert first.delete(url, headers=headers).status_code == 204
    assert second.get(url, headers=headers).status_code == 404


@pytest.mark.xdist_group("instances")
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
