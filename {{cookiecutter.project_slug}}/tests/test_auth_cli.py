"""The ``flask users`` commands."""

from __future__ import annotations

from click.testing import Result
from flask import Flask
from sqlmodel import Session, select

from app.models.user import User
from tests.fixtures.auth import PASSWORD, Login, MakeUser


def flask_cli(app: Flask, *args: str, input: str | None = None) -> Result:
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args), input=input)


def stored(session: Session, email: str) -> User:
    session.expire_all()
    return session.exec(select(User).where(User.email == email)).one()


def test_create_prompts_for_the_password_and_makes_an_admin(
    app: Flask, session: Session, login: Login
) -> None:
    result = flask_cli(
        app,
        "users",
        "create",
        "Root@Example.com",
        "--full-name",
        "Root",
        "--admin",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    user = stored(session, "root@example.com")
    assert user.roles == ["user", "admin"]
    assert login("root@example.com")["access_token"]


def test_create_refuses_a_short_password_and_a_taken_email(app: Flask, make_user: MakeUser) -> None:
    short = flask_cli(
        app, "users", "create", "a@example.com", "--full-name", "A", input="short\nshort\n"
    )
    assert short.exit_code != 0
    assert "at least 8 characters" in short.output
    make_user("taken@example.com")
    taken = flask_cli(
        app,
        "users",
        "create",
        "taken@example.com",
        "--full-name",
        "T",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert taken.exit_code == 1
    assert "already exists" in taken.output
    assert "Traceback" not in taken.output


def test_set_role_and_deactivate(
    app: Flask, make_user: MakeUser, login: Login, session: Session
) -> None:
    user = make_user("staff@example.com")
    login(user.email)
    promoted = flask_cli(app, "users", "set-role", "STAFF@example.com", "user", "admin")
    assert promoted.exit_code == 0, promoted.output
    assert stored(session, user.email).roles == ["admin", "user"]

    bad_role = flask_cli(app, "users", "set-role", user.email, "superuser")
    assert bad_role.exit_code == 2

    ended = flask_cli(app, "users", "deactivate", user.email)
    assert ended.exit_code == 0, ended.output
    assert "ended 1 session" in ended.output
    assert stored(session, user.email).is_active is False

    missing = flask_cli(app, "users", "deactivate", "nobody@example.com")
    assert missing.exit_code == 1
    assert "No user has the email" in missing.output
