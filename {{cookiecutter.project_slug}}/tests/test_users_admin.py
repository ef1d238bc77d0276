"""User administration by admins."""

from __future__ import annotations

from flask.testing import FlaskClient

from app.models.user import User
from tests.fixtures.auth import PASSWORD, Login, MakeUser, bearer

USERS = "/api/v1/users"


def test_admins_list_users_page_by_page(
    admin_client: FlaskClient, user: User, admin: User, make_user: MakeUser
) -> None:
    people = [make_user(f"person{number}@example.com") for number in range(3)]
    everyone = sorted([user, admin, *people], key=lambda person: person.id or 0)
    seen = []
    for offset in (0, 2, 4):
        page = admin_client.get(f"{USERS}?limit=2&offset={offset}").json["data"]  # type: ignore[index]
        assert page["count"] == 5
        seen += [listed["email"] for listed in page["data"]]
    assert seen == [person.email for person in everyone]
    assert admin_client.get(f"{USERS}?limit=101").status_code == 422


def test_admins_change_roles_and_names(
    admin_client: FlaskClient, user: User, login: Login, anonymous_client: FlaskClient
) -> None:
    response = admin_client.patch(
        f"{USERS}/{user.id}", json={"roles": ["admin", "user"], "full_name": "Promoted"}
    )
    assert response.status_code == 200
    assert response.json["data"]["roles"] == ["admin", "user"]  # type: ignore[index]
    promoted = bearer(login(user.email)["access_token"])
    assert anonymous_client.get(USERS, headers=promoted).status_code == 200


def test_unknown_roles_and_nulls_are_refused(admin_client: FlaskClient, user: User) -> None:
    for body in ({"roles": ["superuser"]}, {"roles": []}, {"roles": None}, {"is_active": None}):
        assert admin_client.patch(f"{USERS}/{user.id}", json=body).status_code == 422, body


def test_deactivation_ends_sessions_and_blocks_login(
    admin_client: FlaskClient, anonymous_client: FlaskClient, user: User, login: Login
) -> None:
    tokens = login(user.email)
    response = admin_client.post(f"{USERS}/{user.id}/deactivate")
    assert response.status_code == 200
    assert response.json["data"]["is_active"] is False  # type: ignore[index]
    assert (
        anonymous_client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])).status_code
        == 401
    )
    relogin = anonymous_client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    assert relogin.json["error"]["code"] == "AUTH_ACCOUNT_DISABLED"  # type: ignore[index]

    assert admin_client.patch(f"{USERS}/{user.id}", json={"is_active": True}).status_code == 200
    assert login(user.email)["access_token"]


def test_admins_cannot_lock_themselves_out(admin_client: FlaskClient, admin: User) -> None:
    for request in (
        admin_client.post(f"{USERS}/{admin.id}/deactivate"),
        admin_client.patch(f"{USERS}/{admin.id}", json={"roles": ["user"]}),
        admin_client.patch(f"{USERS}/{admin.id}", json={"is_active": False}),
    ):
        assert request.status_code == 409
        assert request.json["error"]["code"] == "USER_SELF_LOCKOUT"  # type: ignore[index]


def test_missing_users_are_404(admin_client: FlaskClient) -> None:
    response = admin_client.get(f"{USERS}/999999")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "USER_NOT_FOUND"  # type: ignore[index]
