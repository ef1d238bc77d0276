"""Rate limits once callers are known: per user, per account, exempt roles."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from app.models.user import User
from tests.conftest import MakeApp
from tests.fixtures.auth import PASSWORD, MakeUser, bearer, tokens

ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"
ADDRESS = {"REMOTE_ADDR": "198.51.100.7"}


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


def test_sign_in_attempts_are_limited_per_account(make_app: MakeApp, make_user: MakeUser) -> None:
    app = exact(make_app)
    victim = make_user("victim@example.com")
    client = FlaskClient(app)
    wrong = {"email": victim.email, "password": "guess"}
    # Five wrong guesses from five addresses, then the account is throttled ...
    for n in range(5):
        assert (
            client.post(
                LOGIN, json=wrong, environ_base={"REMOTE_ADDR": f"203.0.113.{n}"}
            ).status_code
            == 401
        )
    sixth = client.post(LOGIN, json=wrong, environ_base={"REMOTE_ADDR": "203.0.113.99"})
    assert sixth.status_code == 429
    assert sixth.json["error"]["code"] == "RATE_LIMITED"  # type: ignore[index]
    # ... even for the right password, while another account is not.
    right = {"email": victim.email, "password": PASSWORD}
    assert client.post(LOGIN, json=right).status_code == 429
    other = make_user("bystander@example.com")
    assert client.post(LOGIN, json={"email": other.email, "password": PASSWORD}).status_code == 200


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
