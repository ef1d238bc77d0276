"""Rate limits once callers are known: per user, exempt roles decided by the session
and the user as they are now, and sign-in throttling per account and address."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from app.core.auth.throttle import FREE_ACCOUNT_FAILURES, FREE_FAILURES, MAX_WAIT, backoff
from app.models.user import User
from tests.conftest import MakeApp
from tests.fixtures.auth import PASSWORD, MakeUser, bearer, tokens

ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"
VERSION = "/api/v1/version"
ADDRESS = {"REMOTE_ADDR": "198.51.100.7"}
GUESSER = {"REMOTE_ADDR": "203.0.113.1"}


def exact(make_app: MakeApp, **overrides: object) -> Flask:
    return make_app(RATE_LIMIT_STRATEGY="moving-window", **overrides)


def codes(client: FlaskClient, url: str, times: int, **kwargs: object) -> list[int]:
    return [client.get(url, **kwargs).status_code for _ in range(times)]  # type: ignore[arg-type]


def test_signed_in_users_count_per_user_not_per_address(
    make_app: MakeApp, make_user: MakeUser
) -> None:
    app = exact(make_app, RATE_LIMIT_DEFAULT="2/minute")
    ada, grace = make_user("ada@example.com"), make_user("grace@example.com")
    client = FlaskClient(app)
    as_ada = bearer(tokens(app, ada.email)["access_token"])
    as_grace = bearer(tokens(app, grace.email)["access_token"])
    # One address, two users: each has a budget of their own.
    assert codes(client, ME, 3, headers=as_ada, environ_base=ADDRESS) == [200, 200, 429]
    assert codes(client, ME, 2, headers=as_grace, environ_base=ADDRESS) == [200, 200]
    # And a user keeps their budget from any address.
    elsewhere = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get(ME, headers=as_ada, environ_base=elsewhere).status_code == 429


def test_a_forged_token_counts_against_the_address(make_app: MakeApp, user: User) -> None:
    app = exact(make_app, RATE_LIMIT_DEFAULT="2/minute")
    client = FlaskClient(app)
    forged = bearer("not.a.token")
    assert codes(client, ME, 2, headers=forged, environ_base=ADDRESS) == [401, 401]
    # The refused requests used up the address's budget: a rate limit comes first.
    assert client.get("/api/v1/version", environ_base=ADDRESS).status_code == 429


def test_exempt_roles_are_not_limited(make_app: MakeApp, make_user: MakeUser) -> None:
    app = exact(make_app, RATE_LIMIT_DEFAULT="1/minute", RATE_LIMIT_EXEMPT_ROLES="admin")
    admin = make_user("boss@example.com", roles=("user", "admin"))
    plain = make_user("plain@example.com")
    client = FlaskClient(app)
    as_admin = bearer(tokens(app, admin.email)["access_token"])
    as_plain = bearer(tokens(app, plain.email)["access_token"])
    assert codes(client, ME, 3, headers=as_admin) == [200, 200, 200]
    assert codes(client, ME, 2, headers=as_plain) == [200, 429]


def test_a_signed_out_admin_is_limited_again(make_app: MakeApp, make_user: MakeUser) -> None:
    app = exact(make_app, RATE_LIMIT_DEFAULT="1/minute", RATE_LIMIT_EXEMPT_ROLES="admin")
    admin = make_user("gone@example.com", roles=("user", "admin"))
    client = FlaskClient(app)
    as_admin = bearer(tokens(app, admin.email)["access_token"])
    assert codes(client, ME, 2, headers=as_admin) == [200, 200]
    assert client.post("/api/v1/auth/logout", headers=as_admin).status_code == 204
    # The token still carries the admin role, but its session is over: the
    # exemption is decided by the session and the user, not by the token.
    assert codes(client, VERSION, 2, headers=as_admin) == [200, 429]


def test_a_demoted_admin_is_limited_at_once(
    make_app: MakeApp, make_user: MakeUser, admin: User
) -> None:
    app = exact(make_app, RATE_LIMIT_DEFAULT="1/minute", RATE_LIMIT_EXEMPT_ROLES="admin")
    other = make_user("demoted@example.com", roles=("user", "admin"))
    client = FlaskClient(app)
    as_other = bearer(tokens(app, other.email)["access_token"])
    assert codes(client, ME, 2, headers=as_other) == [200, 200]
    as_admin = bearer(tokens(app, admin.email)["access_token"])
    demoted = client.patch(f"/api/v1/users/{other.id}", json={"roles": ["user"]}, headers=as_admin)
    assert demoted.status_code == 200
    assert codes(client, ME, 2, headers=as_other) == [200, 429]


def login_from(client: FlaskClient, address: str, email: str, password: str) -> int:
    body = {"email": email, "password": password}
    return client.post(LOGIN, json=body, environ_base={"REMOTE_ADDR": address}).status_code


def test_failed_sign_ins_slow_down_their_address_not_the_owner(
    make_app: MakeApp, make_user: MakeUser
) -> None:
    client = FlaskClient(exact(make_app))
    victim = make_user("victim@example.com")
    guesses = [login_from(client, "203.0.113.1", victim.email, "guess") for _ in range(4)]
    # Three failures are free; then the address waits 1 s, 2 s, 4 s ... per try.
    assert guesses == [401, 401, 401, 429]
    throttled = client.post(
        LOGIN, json={"email": victim.email, "password": PASSWORD}, environ_base=GUESSER
    )
    assert throttled.status_code == 429
    assert throttled.json["error"]["code"] == "RATE_LIMITED"  # type: ignore[index]
    assert int(throttled.headers["Retry-After"]) >= 1
    # The owner, from anywhere else, signs in at once.
    assert login_from(client, "198.51.100.20", victim.email, PASSWORD) == 200


def test_guessing_from_many_addresses_spares_an_address_the_owner_used(
    make_app: MakeApp, make_user: MakeUser
) -> None:
    client = FlaskClient(exact(make_app))
    victim = make_user("target@example.com")
    assert login_from(client, "198.51.100.20", victim.email, PASSWORD) == 200  # home
    for n in range(FREE_ACCOUNT_FAILURES):
        assert login_from(client, f"203.0.113.{n + 10}", victim.email, "guess") == 401
    # Past the account's free failures, new addresses wait, whatever they send ...
    assert login_from(client, "192.0.2.1", victim.email, PASSWORD) == 429
    # ... but the owner's known address is not held back by the others' failures.
    assert login_from(client, "198.51.100.20", victim.email, PASSWORD) == 200


def test_the_wait_doubles_with_each_failure_up_to_a_cap() -> None:
    waits = [backoff(failures, FREE_FAILURES) for failures in range(1, 7)]
    assert waits == [0, 0, 1, 2, 4, 8]
    assert backoff(100, FREE_FAILURES) == MAX_WAIT


def test_sign_in_attempts_are_limited_per_address(make_app: MakeApp) -> None:
    app = exact(make_app)
    client = FlaskClient(app)
    attempts = [
        client.post(
            LOGIN, json={"email": f"nobody{n}@example.com", "password": "x"}, environ_base=ADDRESS
        ).status_code
        for n in range(11)
    ]
    assert attempts == [401] * 10 + [429]


def test_password_changes_are_limited_per_user(client: FlaskClient) -> None:
    body = {"current_password": "wrong", "new_password": "a new long password"}
    answers = [client.post("/api/v1/auth/password", json=body).status_code for _ in range(6)]
    assert answers == [403] * 5 + [429]
