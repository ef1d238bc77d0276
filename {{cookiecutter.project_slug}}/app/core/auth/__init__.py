"""Authentication and authorization, the framework part.

- Every endpoint needs valid credentials unless it is listed as public in
  :mod:`app.core.auth.guard` (deny by default).
- ``@require_roles("admin")`` restricts a view to users holding one of the roles.
- ``current_principal()`` says who sent the request (user id, roles, session),
  without a database read.

Tokens are JWTs (:mod:`app.core.auth.tokens`); passwords are hashed with argon2id
(:mod:`app.core.auth.passwords`). Accounts and their sign-in sessions, which the
guard checks each token against, are wired in by :mod:`app.features.auth`.
"""

from app.core.auth.context import current_principal, current_session_id, current_user_id
from app.core.auth.guard import init_app, require_auth, require_roles

__all__ = [
    "current_principal",
    "current_session_id",
    "current_user_id",
    "init_app",
    "require_auth",
    "require_roles",
]
