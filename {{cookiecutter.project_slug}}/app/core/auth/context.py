"""The authenticated user and session of the current request."""

from __future__ import annotations

import uuid

from flask import g

from app.models.user import User


def current_user() -> User:
    """The user who sent the current request (views of public endpoints have none)."""
    if "current_user" not in g:
        raise RuntimeError(
            "No authenticated user: the view is @public. Remove the marker, or "
            "decorate the view with @require_auth."
        )
    user: User = g.current_user
    return user


def current_session_id() -> uuid.UUID:
    """The sign-in session of the current request's access token."""
    current_user()
    session_id: uuid.UUID = g.current_session_id
    return session_id
