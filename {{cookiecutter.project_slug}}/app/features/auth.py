"""Accounts: sign-in with JWT access and refresh tokens, sessions, roles, ownership.

Builds the app's ``Authenticator`` and plugs it into the guard of
``app.core.auth`` as the bearer-token scheme; adds the ownership rule of
``app.core.scoping``, the ``flask users`` commands and the auth and users
blueprints.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event, inspect, orm

from app.api.auth import authenticator
from app.api.v1 import auth as auth_api
from app.api.v1 import users as users_api
from app.cli.users import users as users_cli
from app.core import auth, scoping
from app.core.auth.guard import Scheme, add_scheme, bearer_token
from app.core.auth.ownership import OwnerRule
from app.core.auth.passwords import Passwords
from app.core.auth.principal import Principal
from app.core.auth.throttle import SignInThrottle
from app.core.auth.tokens import TokenCodec, load_keys
from app.core.cache import BackendError, MemoryBackend
from app.core.config import Settings
from app.core.db import db, get_session
from app.core.exceptions import ServiceUnavailableError
from app.models.user import User
from app.services.auth import Authenticator
from app.services.sessions import CHANGED_USERS, REVOKED_SESSIONS, SessionStates

#: How OpenAPI documents the access tokens.
BEARER_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


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

    auth.init_app(app)
    add_scheme(app, Scheme("bearerAuth", _access_token, BEARER_SCHEME))
    scoping.add_rule(app, OwnerRule())
    app.cli.add_command(users_cli)
    app.register_blueprint(auth_api.bp)
    app.register_blueprint(users_api.bp)


def _access_token() -> Principal | None:
    """Who the request's access token speaks for, if its session and its user
    are still valid; None if it sends no bearer token."""
    token = bearer_token()
    if token is None:
        return None
    return authenticator().authenticate(get_session, access_token=token)


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
