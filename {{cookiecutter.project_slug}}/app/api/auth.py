"""What views know of accounts beyond ``app.core.auth``: the app's
``Authenticator`` and the ``User`` who sent the request."""

from __future__ import annotations

from flask import current_app, g

from app.core.auth import current_user_id
from app.core.auth.errors import TokenRevoked
from app.core.db import get_session
from app.models.user import User
from app.services.auth import Authenticator


def authenticator() -> Authenticator:
    """The ``Authenticator`` of the current app (``app.features.auth`` builds it)."""
    found: Authenticator = current_app.extensions["authenticator"]
    return found


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
