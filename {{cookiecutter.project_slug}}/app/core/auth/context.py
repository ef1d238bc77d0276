"""The authenticated caller of the current request: its principal, session and user."""

from __future__ import annotations

import uuid

from flask import g

from app.core.auth.errors import TokenRevoked
from app.core.auth.principal import Principal
from app.core.db import get_session
from app.models.user import User


def current_principal() -> Principal:
    """Who sent the current request (views of public endpoints have no one)."""
    if "principal" not in g:
        raise RuntimeError(
            "No authenticated user: the view is @public. Remove the marker, or "
            "decorate the view with @require_auth."
        )
    principal: Principal = g.principal
    return principal


def current_user_id() -> int:
    """The id of the user who sent the current request; no database read."""
    return current_principal().user_id


def current_session_id() -> uuid.UUID:
    """The sign-in session of the current request's access token."""
    return current_principal().session_id


def current_user() -> User:
    """The user who sent the current request, read from the database on first use.

    Authentication does not need the row (the shared session states answer it),
    so only views that show or change the account pay for reading it.
    """
    if "current_user" not in g:
        user = get_session().get(User, current_user_id())
        if user is None:  # deleted since the token was checked
            raise TokenRevoked()
        g.current_user = user
    found: User = g.current_user
    return found
