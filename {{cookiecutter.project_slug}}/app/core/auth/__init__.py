"""Authentication and authorization.

- Every endpoint needs a valid access token unless it is listed as public in
  :mod:`app.core.auth.guard` (deny by default).
- ``@require_roles("admin")`` restricts a view to users holding one of the roles.
- ``current_user()`` is the authenticated user of the request.

Tokens are JWTs (:mod:`app.core.auth.tokens`); passwords are hashed with argon2id
(:mod:`app.core.auth.passwords`); sign-in sessions live in the database
(``AuthSession``), so logging out takes effect on the next request.
"""

from app.core.auth.context import current_session_id, current_user
from app.core.auth.guard import init_app, require_auth, require_roles

__all__ = ["current_session_id", "current_user", "init_app", "require_auth", "require_roles"]
