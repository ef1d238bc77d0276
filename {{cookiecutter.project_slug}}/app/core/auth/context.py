"""The authenticated caller of the current request: its principal and session."""

from __future__ import annotations

import uuid

from flask import g

from app.core.auth.principal import Principal


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
