"""Sign-up, sign-in, refresh rotation, logout, password change and sessions, over HTTP."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlmodel import Session, select

from app.api.auth import authenticator
from app.core.auth.passwords import Passwords
from app.core.db import get_session
from app.models.user import AuthSession, User
from tests.fixtures.auth import JWT_TEST_SECRET, PASSWORD, Login, MakeUser, bearer

AUTH = "/api/v1/auth"


def data(response: Any) -> Any:
    assert response.json is not None, response.data
    return response.json["data"]


def code(response: Any) -> str:
    assert response.json["success"] is False
    found: str = response.json["error"]["code"]
    return found


def register(client: FlaskClient, email: str = "new@example.com", **extra: Any) -> Any:
    body = {"email": email, "password": PASSWORD, "full_name": "New Person", **extra}
    return client.post(f"{AUTH}/register", json=body)


def test_register_login_me_refresh_logout(anonymous_client: FlaskClient) -> None:
    created = register(anonymous_client, "Ann@Example.COM")
    assert created.status_code == 201
    assert data(created)["email"] == "ann@example.com"
    assert data(created)["roles"] == ["user"]

    login = anonymous_client.post(
        f"{AUTH}/login", json={"email": "ANN@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    tokens = data(login)
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900

    me = anonymous_client.get(f"{AUTH}/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert data(me)["full_name"] == "New Person"

    refreshed = anonymous_client.post(
        f"{AUTH}/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    new = data(refreshed)
    assert new["access_token"] != tokens["access_token"]
    assert new["refresh_token"] != tokens["refresh_token"]
    assert (
        anonymous_client.get(f"{AUTH}/me", headers=bearer(new["access_token"])).status_code == 200
    )

    out = anonymous_client.post(f"{AUTH}/logout", headers=bearer(new["access_token"]))
    assert out.status_code == 204
    after = anonymous_client.get(f"{AUTH}/me", headers=bearer(new["access_token"]))
    assert after.status_code == 401
    assert code(after) == "AUTH_TOKEN_REVOKED"
    assert after.headers["WWW-Authenticate"].startswith("Bearer")
    again = anonymous_client.post(f"{AUTH}/refresh", json={"refresh_token": new["refresh_token"]})
    assert code(again) == "AUTH_TOKEN_REVOKED"


def test_register_refuses_a_taken_email_in_any_case(
    anonymous_client: FlaskClient, user: User
) -> None:
    response = register(anonymous_client, user.email.upper())
    assert response.status_code == 409
    assert code(response) == "AUTH_USER_EXISTS"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x" * 7}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"full_name": ""}, "full_name"),
    ],
)
def test_register_validates(
    anonymous_client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    response = register(anonymous_client, **body)
    assert response.status_code == 422
    assert field in [detail["field"] for detail in response.json["error"]["details"]]  # type: ignore[index]


def test_password_length_limits_are_inclusive(anonymous_client: FlaskClient) -> None:
    assert register(anonymous_client, "short@example.com", password="p" * 8).status_code == 201
    assert register(anonymous_client, "long@example.com", password="p" * 128).status_code == 201


@pytest.mark.parametrize(
    "extra",
    [
        {"roles": ["admin"]},
        {"role": "admin"},
        {"is_active": False},
        {"id": 1},
        {"hashed_password": "x"},
    ],
)
def test_register_refuses_fields_it_does_not_own(
    anonymous_client: FlaskClient, session: Session, extra: dict[str, Any]
) -> None:
    response = register(anonymous_client, "sneaky@example.com", **extra)
    assert response.status_code == 422
    assert session.exec(select(User).where(User.email == "sneaky@example.com")).first() is None


@pytest.mark.parametrize("extra", [{"roles": ["admin"]}, {"is_active": False}, {"id": 9}])
def test_profile_update_refuses_fields_it_does_not_own(
    client: FlaskClient, user: User, extra: dict[str, Any]
) -> None:
    response = client.patch(f"{AUTH}/me", json=extra)
    assert response.status_code == 422
    assert data(client.get(f"{AUTH}/me"))["roles"] == ["user"]


def test_profile_update(client: FlaskClient, make_user: MakeUser) -> None:
    response = client.patch(
        f"{AUTH}/me",
        json={"full_name": "Renamed", "email": "New@X.org", "current_password": PASSWORD},
    )
    assert response.status_code == 200
    assert data(response)["full_name"] == "Renamed"
    assert data(response)["email"] == "new@x.org"
    make_user("taken@example.com")
    taken = client.patch(
        f"{AUTH}/me", json={"email": "taken@example.com", "current_password": PASSWORD}
    )
    assert taken.status_code == 409
    assert code(taken) == "AUTH_USER_EXISTS"


def test_unknown_email_and_wrong_password_answer_alike(
    anonymous_client: FlaskClient, user: User
) -> None:
    unknown = anonymous_client.post(
        f"{AUTH}/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    wrong = anonymous_client.post(
        f"{AUTH}/login", json={"email": user.email, "password": "wrong password"}
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json["error"] == wrong.json["error"]  # type: ignore[index]
    assert unknown.json["message"] == wrong.json["message"]  # type: ignore[index]
    assert code(unknown) == "AUTH_INVALID_CREDENTIALS"


def test_unknown_email_costs_one_password_check(
    app: Flask, anonymous_client: FlaskClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    verify = Passwords.verify

    def counting(self: Passwords, hashed: str, password: str) -> bool:
        checks.append(hashed)
        return verify(self, hashed, password)

    monkeypatch.setattr(Passwords, "verify", counting)
    for email in ("nobody@example.com", user.email):
        anonymous_client.post(f"{AUTH}/login", json={"email": email, "password": "wrong"})
    assert len(checks) == 2
    assert all(hashed.startswith("$argon2id$") for hashed in checks)


def test_inactive_users_cannot_log_in_or_refresh(
    anonymous_client: FlaskClient, make_user: MakeUser, login: Login, session: Session
) -> None:
    user = make_user("gone@example.com")
    tokens = login(user.email)
    user = session.get_one(User, user.id)
    user.is_active = False
    session.add(user)
    session.commit()

    response = anonymous_client.post(
        f"{AUTH}/login", json={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 403
    assert code(response) == "AUTH_ACCOUNT_DISABLED"
    refresh = anonymous_client.post(
        f"{AUTH}/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert code(refresh) == "AUTH_ACCOUNT_DISABLED"
    me = anonymous_client.get(f"{AUTH}/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 403


def test_a_rotated_refresh_token_revokes_the_session(
    anonymous_client: FlaskClient, user: User, login: Login, caplog: pytest.LogCaptureFixture
) -> None:
    first = login(user.email)
    second = data(
        anonymous_client.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})
    )
    with caplog.at_level(logging.WARNING, logger="app.security"):
        replay = anonymous_client.post(
            f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]}
        )
    assert replay.status_code == 401
    assert code(replay) == "AUTH_TOKEN_REVOKED"
    (event,) = [record for record in caplog.records if record.name == "app.security"]
    assert event.event == "auth.refresh_token_reuse"  # type: ignore[attr-defined]
    # The whole family is dead: the pair issued before the replay too.
    assert (
        anonymous_client.get(f"{AUTH}/me", headers=bearer(second["access_token"])).status_code
        == 401
    )
    still = anonymous_client.post(
        f"{AUTH}/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert code(still) == "AUTH_TOKEN_REVOKED"


def test_logout_all_ends_every_session(
    anonymous_client: FlaskClient, user: User, login: Login
) -> None:
    phone, laptop = login(user.email), login(user.email)
    response = anonymous_client.post(f"{AUTH}/logout-all", headers=bearer(phone["access_token"]))
    assert response.status_code == 204
    for tokens in (phone, laptop):
        me = anonymous_client.get(f"{AUTH}/me", headers=bearer(tokens["access_token"]))
        assert code(me) == "AUTH_TOKEN_REVOKED"


def test_password_change_keeps_this_session_and_ends_the_others(
    anonymous_client: FlaskClient, user: User, login: Login
) -> None:
    here, elsewhere = login(user.email), login(user.email)
    wrong = anonymous_client.post(
        f"{AUTH}/password",
        json={"current_password": "not it", "new_password": "a brand new password"},
        headers=bearer(here["access_token"]),
    )
    assert wrong.status_code == 403
    assert code(wrong) == "AUTH_INVALID_CREDENTIALS"

    changed = anonymous_client.post(
        f"{AUTH}/password",
        json={"current_password": PASSWORD, "new_password": "a brand new password"},
        headers=bearer(here["access_token"]),
    )
    assert changed.status_code == 204
    assert (
        anonymous_client.get(f"{AUTH}/me", headers=bearer(here["access_token"])).status_code == 200
    )
    assert (
        anonymous_client.get(f"{AUTH}/me", headers=bearer(elsewhere["access_token"])).status_code
        == 401
    )
    assert login(user.email, "a brand new password")["access_token"]
    old = anonymous_client.post(f"{AUTH}/login", json={"email": user.email, "password": PASSWORD})
    assert old.status_code == 401


def test_sessions_are_listed_and_revoked(
    anonymous_client: FlaskClient, make_user: MakeUser, login: Login
) -> None:
    user = make_user("two.devices@example.com")
    mine = login(user.email)
    other = login(user.email)
    headers = bearer(mine["access_token"])
    listed = data(anonymous_client.get(f"{AUTH}/sessions", headers=headers))
    assert listed["count"] == 2
    assert [entry["current"] for entry in listed["data"]].count(True) == 1
    other_id = next(entry["id"] for entry in listed["data"] if not entry["current"])

    assert (
        anonymous_client.delete(f"{AUTH}/sessions/{other_id}", headers=headers).status_code == 204
    )
    assert (
        anonymous_client.get(f"{AUTH}/me", headers=bearer(other["access_token"])).status_code == 401
    )
    assert data(anonymous_client.get(f"{AUTH}/sessions", headers=headers))["count"] == 1
    again = anonymous_client.delete(f"{AUTH}/sessions/{other_id}", headers=headers)
    assert again.status_code == 404


def test_nobody_can_revoke_another_users_session(
    client: FlaskClient, make_user: MakeUser, login: Login, session: Session
) -> None:
    victim = make_user("victim@example.com")
    tokens = login(victim.email)
    victim_session = session.exec(select(AuthSession).where(AuthSession.user_id == victim.id)).one()
    response = client.delete(f"{AUTH}/sessions/{victim_session.id}")
    assert response.status_code == 404
    assert client.get(f"{AUTH}/me", headers=bearer(tokens["access_token"])).status_code == 200


def test_login_rehashes_a_password_made_with_old_parameters(
    app: Flask, anonymous_client: FlaskClient, make_user: MakeUser, session: Session
) -> None:
    user = make_user("old@example.com")
    old_hash = Passwords(time_cost=2, memory_kib=16, parallelism=1).hash(PASSWORD)
    stored = session.get_one(User, user.id)
    stored.hashed_password = old_hash
    session.add(stored)
    session.commit()

    response = anonymous_client.post(
        f"{AUTH}/login", json={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    session.expire_all()
    new_hash = session.get_one(User, user.id).hashed_password
    assert new_hash != old_hash
    with app.app_context():
        assert not authenticator().passwords.needs_rehash(new_hash)


def test_password_hashing_leaves_the_gevent_loop_free() -> None:
    """Under the server's gevent workers, argon2 runs in a real thread of its own."""
    script = (
        "from gevent import monkey; monkey.patch_all()\n"
        "from app.core.auth.passwords import off_the_event_loop\n"
        "real_thread = monkey.get_original('_thread', 'get_ident')\n"
        "print(off_the_event_loop(real_thread) != real_thread())\n"
    )
    project = Path(__file__).resolve().parents[1]
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"


# One normalisation of emails and passwords everywhere they come in.


def test_a_password_is_taken_as_typed_at_sign_up_sign_in_and_change(
    anonymous_client: FlaskClient, login: Login
) -> None:
    padded = "  spaced out passphrase  "
    assert register(anonymous_client, "pad@example.com", password=padded).status_code == 201
    assert login("pad@example.com", padded)["access_token"]
    stripped = {"email": "pad@example.com", "password": padded.strip()}
    assert anonymous_client.post(f"{AUTH}/login", json=stripped).status_code == 401
    token = login("pad@example.com", padded)["access_token"]
    new = " another spaced passphrase "
    change = {"current_password": padded, "new_password": new}
    changed = anonymous_client.post(f"{AUTH}/password", json=change, headers=bearer(token))
    assert changed.status_code == 204
    assert login("pad@example.com", new)["access_token"]


def test_a_password_is_the_same_whatever_unicode_form_it_is_typed_in(
    anonymous_client: FlaskClient, login: Login
) -> None:
    composed, decomposed = "caf\u00e9 au lait please", "cafe\u0301 au lait please"
    assert register(anonymous_client, "cafe@example.com", password=composed).status_code == 201
    assert login("cafe@example.com", decomposed)["access_token"]


def test_an_email_is_normalised_alike_everywhere(
    anonymous_client: FlaskClient, client: FlaskClient, login: Login
) -> None:
    assert register(anonymous_client, "Mixed.Case@Example.TEST").status_code == 201
    assert login("MIXED.case@example.test")["access_token"]
    taken = register(anonymous_client, "mixed.CASE@example.test")
    assert (taken.status_code, code(taken)) == (409, "AUTH_USER_EXISTS")


@pytest.mark.parametrize(
    "password",
    ["12345678", "Password1", "QWERTYUIOP", "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44"],
)
def test_a_common_password_is_refused_with_a_clear_message(
    anonymous_client: FlaskClient, client: FlaskClient, password: str
) -> None:
    response = register(anonymous_client, "common@example.com", password=password)
    assert response.status_code == 422
    (problem,) = response.json["error"]["details"]  # type: ignore[index]
    assert (problem["field"], problem["type"]) == ("password", "password_too_common")
    assert "common" in problem["message"]
    change = {"current_password": PASSWORD, "new_password": password}
    changed = client.post(f"{AUTH}/password", json=change)
    assert changed.status_code == 422
    assert changed.json["error"]["details"][0]["type"] == "password_too_common"  # type: ignore[index]


def test_changing_the_email_needs_the_current_password(client: FlaskClient) -> None:
    without = client.patch(f"{AUTH}/me", json={"email": "moved@example.com"})
    assert without.status_code == 422
    assert without.json["error"]["details"][0]["type"] == "current_password_required"  # type: ignore[index]
    wrong = client.patch(
        f"{AUTH}/me", json={"email": "moved@example.com", "current_password": "not it"}
    )
    assert (wrong.status_code, code(wrong)) == (403, "AUTH_INVALID_CREDENTIALS")
    assert data(client.get(f"{AUTH}/me"))["email"] == "user@example.com"
    right = client.patch(
        f"{AUTH}/me", json={"email": "moved@example.com", "current_password": PASSWORD}
    )
    assert data(right)["email"] == "moved@example.com"
    # The name alone needs no password.
    assert client.patch(f"{AUTH}/me", json={"full_name": "Renamed"}).status_code == 200


@pytest.mark.parametrize("field", ["email", "full_name"])
def test_a_profile_field_cannot_be_set_to_null(client: FlaskClient, field: str) -> None:
    response = client.patch(f"{AUTH}/me", json={field: None, "current_password": PASSWORD})
    assert response.status_code == 422


def test_logs_never_carry_passwords_hashes_tokens_keys_or_sql_values(
    app: Flask,
    anonymous_client: FlaskClient,
    login: Login,
    session: Session,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Walk the error paths of accounts and tokens, then search the logs for every
    secret involved."""
    email, password = "secret.person@example.com", "a very secret passphrase 42"

    # A database error with values in the statement: the log says where, not what.
    @app.get("/_test/sql-error")
    def sql_error() -> Any:
        get_session().execute(text("SELECT CAST(:value AS INTEGER)"), {"value": password})
        get_session().execute(
            text("INSERT INTO users (email, full_name) VALUES (:email, :name)"),
            {"email": email, "name": password},
        )
        return {}

    assert register(anonymous_client, email, password=password).status_code == 201
    pair = login(email, password)
    refresh = {"refresh_token": pair["refresh_token"]}
    assert anonymous_client.post(f"{AUTH}/refresh", json=refresh).status_code == 200
    paths = [
        register(anonymous_client, email, password=password),  # 409: taken
        anonymous_client.post(f"{AUTH}/login", json={"email": email, "password": password + "x"}),
        anonymous_client.post(f"{AUTH}/refresh", json=refresh),  # 401: reused, session revoked
        anonymous_client.get(f"{AUTH}/me", headers=bearer(pair["access_token"])),  # 401: revoked
        anonymous_client.get(f"{AUTH}/me", headers=bearer(pair["access_token"] + "x")),
        anonymous_client.post(
            f"{AUTH}/password",
            json={"current_password": password, "new_password": password},
            headers=bearer(pair["access_token"]),
        ),
    ]
    assert [response.status_code for response in paths] == [409, 401, 401, 401, 401, 401]

    failed = anonymous_client.get("/_test/sql-error")
    assert failed.status_code in (401, 409, 500)
    signed_in = app.test_client().get("/_test/sql-error")
    assert signed_in.status_code in (409, 500)

    hashed = session.exec(select(User.hashed_password).where(User.email == email)).one()
    logs = capsys.readouterr().out
    secrets = {
        "password": password,
        "hash": hashed,
        "hash digest": hashed.rpartition("$")[2],
        "access token": pair["access_token"],
        "refresh token": pair["refresh_token"],
        "JWT key": JWT_TEST_SECRET,
        "email": email,
    }
    assert "request_id" in logs
    leaked = [name for name, value in secrets.items() if value in logs]
    assert leaked == []
