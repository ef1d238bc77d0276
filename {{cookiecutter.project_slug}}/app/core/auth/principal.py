"""Who an authenticated request comes from, as far as authorization needs to know."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

#: Every role a user can hold; ``require_roles`` accepts only these.
ROLES = ("user", "admin")


@dataclass(frozen=True)
class Principal:
    """A user's id and roles, and the sign-in session of the request's token.

    Checked against the session and the user as they are now (not as the token
    says), so it is what roles, ownership and rate-limit exemptions go by.
    """

    user_id: int
    session_id: uuid.UUID
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def caller_key(self) -> str:
        """Who rate limits count this caller as (``app.core.caller``)."""
        return f"user:{self.user_id}"
