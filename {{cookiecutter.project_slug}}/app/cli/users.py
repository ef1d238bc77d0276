"""``flask users ...``: manage accounts from the command line (first admin, lockouts)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask.cli import AppGroup
from pydantic import ValidationError

from app.api.auth import authenticator
from app.core.auth.principal import ROLES
from app.core.db import get_session
from app.core.exceptions import APIError
from app.schemas.auth import UserCreate
from app.services import users as service

users = AppGroup("users", help="Create and manage user accounts.")


@contextmanager
def reported() -> Iterator[None]:
    """Show a refusal of the services as a one-line error, not a traceback."""
    try:
        yield
    except APIError as exc:
        raise click.ClickException(exc.message) from exc


@users.command("create")
@click.argument("email")
@click.option("--full-name", prompt=True, help="The user's name.")
@click.password_option(help="Asked for, hidden, if not given.")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
def create(email: str, full_name: str, password: str, admin: bool) -> None:
    """Create a user (with --admin, an administrator)."""
    try:
        data = UserCreate(email=email, password=password, full_name=full_name)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.BadParameter(problems) from exc
    roles = ["user", "admin"] if admin else ["user"]
    session = get_session()
    with reported():
        user = authenticator().register(session, data=data, roles=roles)
    session.commit()
    click.echo(f"Created user {user.id} <{user.email}> with roles {', '.join(user.roles)}.")


@users.command("set-role")
@click.argument("email")
@click.argument("roles", nargs=-1, required=True, type=click.Choice(ROLES))
def set_role(email: str, roles: tuple[str, ...]) -> None:
    """Replace a user's roles, e.g. ``flask users set-role ann@example.com user admin``."""
    session = get_session()
    with reported():
        user = service.get_user_by_email(session, email=email)
    service.set_roles(session, user=user, roles=list(roles))
    session.commit()
    click.echo(f"{user.email} now has the roles {', '.join(user.roles)}.")


@users.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Disable an account and end all of its sessions."""
    session = get_session()
    with reported():
        user = service.get_user_by_email(session, email=email)
    ended = service.deactivate(session, user=user)
    session.commit()
    click.echo(f"Deactivated {email.lower()}; ended {ended} session(s).")
