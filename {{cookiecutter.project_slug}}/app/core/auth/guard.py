"""The Flask side of auth: who may call what, checked before every request.

Deny by default: an endpoint answers 401 without a valid access token unless
its view is marked ``@public`` (``app.core.access``). ``require_roles`` narrows
a view to some roles; the users blueprint requires ``admin`` for everything it
will ever hold.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy import event, orm

from app.core import access, caller, scoping
from app.core.auth import cli
from app.core.auth.errors import AuthenticationRequired, NotAllowed
from app.core.auth.ownership import OwnerRule
from app.core.auth.passwords import Passwords
from app.core.auth.tokens import TokenCodec, load_keys
from app.core.config import Settings
from app.core.db import db, get_session
from app.core.exceptions import APIError
from app.core.openapi import add_document_hook, error_response, operations
from app.models.user import ROLES, User
from app.services.auth import Authenticator
from app.services.sessions import REVOKED_SESSIONS, SessionStates

F = TypeVar("F", bound=Callable[..., Any])

#: Blueprints whose every endpoint needs one of the roles, including endpoints
#: added later without ``@require_roles``.
ROLE_BLUEPRINTS: dict[str, tuple[str, ...]] = {"users": ("admin",)}
#: The roles that may call views marked ``@privileged`` (``app.core.access``).
PRIVILEGED_ROLES = ("admin",)


def init_app(app: Flask) -> None:
    settings: Settings = app.extensions["settings"]
    keys = load_keys(
        settings.JWT_ALGORITHM,
        secret=settings.JWT_SECRET_KEY.get_secret_value(),
        private_key_file=settings.JWT_PRIVATE_KEY_FILE,
        public_key_file=settings.JWT_PUBLIC_KEY_FILE,
    )
    tokens = TokenCodec(
        keys,
        issuer=settings.JWT_ISSUER,
        audience=settings.JWT_AUDIENCE,
        access_ttl=settings.JWT_ACCESS_TOKEN_TTL,
        refresh_ttl=settings.JWT_REFRESH_TOKEN_TTL,
        leeway=settings.JWT_LEEWAY,
    )
    passwords = Passwords(
        time_cost=settings.PASSWORD_HASH_TIME_COST,
        memory_kib=settings.PASSWORD_HASH_MEMORY_KIB,
        parallelism=settings.PASSWORD_HASH_PARALLELISM,
    )
    states = None
    if "cache_backend" in app.extensions:
        # A cache that all processes share: it can answer "is this session still
        # usable?" for them. (A per-process cache could not see revocations
        # made by other processes, so without one the database answers.)
        states = SessionStates(app.extensions["cache"], ttl=settings.AUTH_SESSION_CACHE_TTL)
        _forget_revoked_sessions(app, states)
    app.extensions["authenticator"] = Authenticator(
        tokens=tokens,
        passwords=passwords,
        session_max_age=settings.AUTH_SESSION_MAX_AGE,
        states=states,
    )
    caller.set_resolver(app, _token_caller(frozenset(settings.RATE_LIMIT_EXEMPT_ROLES)))
    app.before_request(_authenticate_request)
    add_document_hook(app, _document_security)
    scoping.add_rule(app, OwnerRule())
    app.cli.add_command(cli.users)


def authenticator() -> Authenticator:
    """The ``Authenticator`` of the current app."""
    found: Authenticator = current_app.extensions["authenticator"]
    return found


def is_public(endpoint: str) -> bool:
    return access.is_public(current_app.view_functions[endpoint])


def _authenticate_request() -> None:
    endpoint = request.endpoint
    # No endpoint: the URL matched nothing, and the 404 handler answers.
    # OPTIONS: CORS preflights carry no credentials by design.
    if endpoint is None or request.method == "OPTIONS" or is_public(endpoint):
        return
    user = _authenticate()
    if request.blueprint in ROLE_BLUEPRINTS:
        check_roles(user, ROLE_BLUEPRINTS[request.blueprint])
    if access.is_privileged(current_app.view_functions[endpoint]):
        check_roles(user, PRIVILEGED_ROLES)


def _authenticate() -> User:
    if "current_user" in g:
        user: User = g.current_user
        return user
    token = _bearer_token()
    if token is None:
        raise AuthenticationRequired()
    user, session_id = authenticator().authenticate(get_session(), access_token=token.strip())
    g.current_user = user
    g.current_session_id = session_id
    # From here on the caller's roles come from the database, not from the token.
    exempt = frozenset(current_app.extensions["settings"].RATE_LIMIT_EXEMPT_ROLES)
    caller.identify(_caller_of(user.id, user.roles, exempt))
    return user


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _token_caller(exempt_roles: frozenset[str]) -> caller.Resolver:
    """Identify the caller by the signature of its access token alone: no database,
    so rate limits can count per user before the request is authenticated."""

    def resolve() -> caller.Caller | None:
        token = _bearer_token()
        if token is None:
            return None
        try:
            claims = authenticator().tokens.decode(token, expected="access")
        except APIError:
            return None
        return _caller_of(claims.user_id, claims.roles, exempt_roles)

    return resolve


def _caller_of(user_id: int | None, roles: Iterable[str], exempt: frozenset[str]) -> caller.Caller:
    held = frozenset(roles)
    return caller.Caller(
        key=f"user:{user_id}",
        roles=held,
        unlimited=bool(held & exempt),
        privileged="admin" in held,
    )


def _forget_revoked_sessions(app: Flask, states: SessionStates) -> None:
    """Drop ended sessions from the cache once their revocation is committed."""
    with app.app_context():
        sessionmaker = db.sessionmaker

    @event.listens_for(sessionmaker, "after_commit")
    def forget(session: orm.Session) -> None:
        states.forget(session.info.pop(REVOKED_SESSIONS, set()))

    @event.listens_for(sessionmaker, "after_rollback")
    def discard(session: orm.Session) -> None:
        session.info.pop(REVOKED_SESSIONS, None)


def require_auth(view: F) -> F:
    """Authenticate the request before ``view`` runs (even on a public blueprint)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _authenticate()
        return view(*args, **kwargs)

    wrapper.__auth_roles__ = getattr(view, "__auth_roles__", ())  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def require_roles(*roles: str | Iterable[str]) -> Callable[[F], F]:
    """Allow ``view`` only to users holding at least one of ``roles``.

    Takes ``require_roles("admin")`` or, as in the seed, ``require_roles(["admin"])``.
    """
    wanted = frozenset(
        role for item in roles for role in ([item] if isinstance(item, str) else item)
    )
    unknown = wanted - set(ROLES)
    if not wanted or unknown:
        raise ValueError(f"require_roles needs roles among {ROLES}, got {sorted(unknown)}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_roles(_authenticate(), wanted)
            return view(*args, **kwargs)

        wrapper.__auth_roles__ = tuple(sorted(wanted))  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def check_roles(user: User, roles: Iterable[str]) -> None:
    if not set(roles) & set(user.roles):
        raise NotAllowed()


def _document_security(document: dict[str, Any], app: Flask) -> None:
    """Mark every protected operation with the bearer scheme and its 401 (and 403)."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for rule, view, operation in operations(document, app):
        if access.is_public(view):
            continue
        operation["security"] = [{"bearerAuth": []}]
        responses = operation.setdefault("responses", {})
        responses["401"] = error_response("Missing, invalid, expired or revoked access token")
        blueprint, _, _ = rule.endpoint.rpartition(".")
        roles = getattr(view, "__auth_roles__", ()) or ROLE_BLUEPRINTS.get(blueprint, ())
        if access.is_privileged(view):
            roles = PRIVILEGED_ROLES
        if roles:
            responses["403"] = error_response(f"Needs one of the roles: {', '.join(roles)}")
