"""``flask api-keys ...``: look at and revoke users' API keys from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.api.api_keys import api_keys as get_api_keys
from app.cli.users import reported
from app.core.cache import BackendError
from app.core.db import get_session
from app.services import users as users_service

api_keys = AppGroup("api-keys", help="List and revoke users' API keys.")


@api_keys.command("list")
@click.argument("email")
def list_keys(email: str) -> None:
    """List a user's keys, newest first (never their secrets)."""
    session = get_session()
    with reported():
        user = users_service.get_user_by_email(session, email=email)
    assert user.id is not None
    rows, count = get_api_keys().list_keys(session, user_id=user.id, limit=1000, offset=0)
    for key in rows:
        state = "revoked" if key.revoked_at else "active"
        used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
        click.echo(
            f"{key.id}  {key.prefix}  {state:7}  last used {used}  {key.name!r}  "
            f"{','.join(key.scopes)}"
        )
    click.echo(f"{count} key(s) of {user.email}.")


@api_keys.command("revoke")
@click.argument("id_or_prefix")
def revoke(id_or_prefix: str) -> None:
    """Revoke a key, given its id or its prefix, on every server at once."""
    session = get_session()
    keys = get_api_keys()
    with reported():
        key = keys.find(session, id_or_prefix=id_or_prefix)
    try:
        keys.revoke(session, key=key)
    except BackendError as exc:
        raise click.ClickException(
            "Could not mark the key as revoked in the shared store; nothing was changed."
        ) from exc
    session.commit()
    click.echo(f"Revoked the key {key.prefix} ({key.name!r}) of user {key.user_id}.")
