"""Authentication and authorization.

- Every endpoint needs a valid access token unless it is listed as public in
  :mod:`app.core.auth.guard` (deny by default).
- ``@require_roles("admin")`` restricts a view to users holding one of the roles.
- ``current_principal()`` says who sent the request (user id, roles, session),
  without a database read; ``current_user()`` is their ``User`` row, read on
  first use.

Tokens are JWTs (:mod:`app.core.auth.tokens`); passwords are hashed with argon2id
(:mod:`app.core.auth.passwords`); sign-in sessions live in the database
(``AuthSession``), so logging out takes effect on the next request.
"""

from app.core.auth.context import (
    current_principal,
    current_session_id,
    current_user,
    current_user_id,
)
from app.core.auth.guard import init_app, require_auth, require_roles

__all__ = [
    "current_principal",
    "current_session_id",
    "current_user",
    "current_user_id",
    "init_app",
    "require_auth",
    "require_roles",
]
