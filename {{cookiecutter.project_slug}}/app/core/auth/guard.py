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
from sqlalchemy import event, inspect, orm

from app.core import access, caller, scoping
from app.core.auth import cli
from app.core.auth.errors import AuthenticationRequired, NotAllowed
from app.core.auth.ownership import OwnerRule
from app.core.auth.passwords import Passwords
from app.core.auth.principal import Principal
from app.core.auth.throttle import SignInThrottle
from app.core.auth.tokens import TokenCodec, load_keys
from app.core.cache import BackendError, MemoryBackend
from app.core.config import Settings
from app.core.db import db, get_session
from app.core.exceptions import APIError, ServiceUnavailableError
from app.core.openapi import add_document_hook, error_response, operations
from app.models.user import ROLES, User
from app.services.auth import Authenticator
from app.services.sessions import CHANGED_USERS, REVOKED_SESSIONS, SessionStates

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
    shared_store = app.extensions.get("shared_store")
    backend = shared_store("auth") if shared_store else None
    if backend is not None and settings.AUTH_SESSION_CACHE_TTL > 0:
        # A store that all processes share: it can answer "is this session still
        # usable, and what may its user do?" for them. (A per-process cache could
        # not see changes made by other processes, so without one the database answers.)
        states = SessionStates(backend, ttl=settings.AUTH_SESSION_CACHE_TTL)
        _hold_changes(app, states)
    app.extensions["authenticator"] = Authenticator(
        tokens=tokens,
        passwords=passwords,
        session_max_age=settings.AUTH_SESSION_MAX_AGE,
        states=states,
        throttle=SignInThrottle(backend or MemoryBackend()),
    )
    caller.set_resolver(app, _caller_resolver(frozenset(settings.RATE_LIMIT_EXEMPT_ROLES)))
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
    principal = _authenticate()
    if request.blueprint in ROLE_BLUEPRINTS:
        check_roles(principal, ROLE_BLUEPRINTS[request.blueprint])
    if access.is_privileged(current_app.view_functions[endpoint]):
        check_roles(principal, PRIVILEGED_ROLES)


def _authenticate() -> Principal:
    """The request's principal, or the error that says why there is none."""
    found = _authentication()
    if isinstance(found, APIError):
        raise found
    g.principal = found
    return found


def _authentication() -> Principal | APIError:
    """Check the request's access token once, whoever asks first (the rate
    limiter, to know who the caller is, or the guard)."""
    if "authentication" not in g:
        token = _bearer_token()
        try:
            if token is None:
                raise AuthenticationRequired()
            g.authentication = authenticator().authenticate(get_session, access_token=token)
        except APIError as exc:
            g.authentication = exc
    found: Principal | APIError = g.authentication
    return found


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _caller_resolver(exempt_roles: frozenset[str]) -> caller.Resolver:
    """Identify the caller by its access token, checked against the session and
    the user as they are now: a signed-out or demoted user is no longer exempt."""

    def resolve() -> caller.Caller | None:
        if _bearer_token() is None:
            return None
        found = _authentication()
        if isinstance(found, APIError):
            return None
        return caller.Caller(
            key=f"user:{found.user_id}",
            roles=found.roles,
            unlimited=bool(found.roles & exempt_roles),
            privileged=found.is_admin,
        )

    return resolve


class SessionStateUnavailable(ServiceUnavailableError):
    code = "AUTH_STATE_UNAVAILABLE"
    message = (
        "The change could not be made visible to every server, so nothing was changed. "
        "Retry after the seconds in Retry-After."
    )

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


def _hold_changes(app: Flask, states: SessionStates) -> None:
    """Before a transaction that ends sessions or changes users commits, mark
    them as changing in the shared states (``SessionStates.hold``); if that
    fails, the commit fails with 503 and nothing changes."""
    with app.app_context():
        sessionmaker = db.sessionmaker

    @event.listens_for(sessionmaker, "before_flush")
    def note_changed_users(session: orm.Session, _context: object, _instances: object) -> None:
        changed = session.info.setdefault(CHANGED_USERS, set())
        for user in session.deleted:
            if isinstance(user, User):
                changed.add(user.id)
        for user in session.dirty:
            attributes = inspect(user).attrs if isinstance(user, User) else None
            if attributes is not None and any(
                attributes[name].history.has_changes() for name in ("roles", "is_active")
            ):
                changed.add(user.id)

    @event.listens_for(sessionmaker, "before_commit")
    def hold(session: orm.Session) -> None:
        session.flush()  # so that every change is noted
        sessions = session.info.get(REVOKED_SESSIONS, set())
        users = session.info.get(CHANGED_USERS, set())
        try:
            states.hold(sessions=sessions, users=users)
        except BackendError as exc:
            raise SessionStateUnavailable() from exc

    @event.listens_for(sessionmaker, "after_transaction_end")
    def forget(session: orm.Session, transaction: orm.SessionTransaction) -> None:
        if transaction.parent is None:
            session.info.pop(REVOKED_SESSIONS, None)
            session.info.pop(CHANGED_USERS, None)


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


def check_roles(principal: Principal, roles: Iterable[str]) -> None:
    if not set(roles) & principal.roles:
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
