"""Sign-up, sign-in, token refresh with rotation, and sign-in sessions.

Each login opens an ``AuthSession``: the family of refresh tokens that descend
from it. A refresh swaps the session's one valid refresh token for a new one
(rotation); presenting a token that was already swapped means it leaked or was
replayed, so the whole session is revoked (RFC 9700, section 4.14). Access
tokens name their session, and a revoked session stops them at the next request.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core.auth.errors import (
    AccountDisabled,
    InvalidCredentials,
    TokenExpired,
    TokenRevoked,
    UserExists,
    WrongPassword,
)
from app.core.auth.passwords import Passwords
from app.core.auth.principal import Principal
from app.core.auth.throttle import SignInThrottle
from app.core.auth.tokens import TokenCodec
from app.models.base import utcnow
from app.models.user import AuthSession, User
from app.schemas.auth import TokenPair, UserCreate
from app.services.sessions import SessionStates, revoke_sessions

security_log = logging.getLogger("app.security")


@dataclass(frozen=True)
class Client:
    """Where a sign-in comes from, as the session list shows it."""

    user_agent: str | None = None
    ip: str | None = None


class Authenticator:
    """Everything that needs the token codec and the password hasher of one app.

    :param states: A shared cache of session states; without one, every request
        reads its session from the database.
    :param throttle: Slows down repeated failed sign-ins; None: no throttling.
    """

    def __init__(
        self,
        *,
        tokens: TokenCodec,
        passwords: Passwords,
        session_max_age: int,
        states: SessionStates | None = None,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self.tokens = tokens
        self.passwords = passwords
        self.session_max_age = timedelta(seconds=session_max_age)
        self.states = states
        self.throttle = throttle

    # Accounts

    def register(
        self, session: Session, *, data: UserCreate, roles: list[str] | None = None
    ) -> User:
        """Create an account; raise ``UserExists`` if the email is taken."""
        user = User(
            email=data.email,
            full_name=data.full_name,
            hashed_password=self.passwords.hash(data.password),
            roles=roles or ["user"],
        )
        try:
            with session.begin_nested():
                session.add(user)
        except IntegrityError as exc:
            raise UserExists() from exc
        return user

    def confirm_password(self, user: User, password: str) -> None:
        """Raise ``WrongPassword`` unless ``password`` is ``user``'s current password."""
        if not self.passwords.verify(user.hashed_password, password):
            raise WrongPassword()

    def change_password(
        self,
        session: Session,
        *,
        user: User,
        current_password: str,
        new_password: str,
        keep_session: uuid.UUID,
    ) -> None:
        """Set a new password and end every other session of the user."""
        self.confirm_password(user, current_password)
        user.hashed_password = self.passwords.hash(new_password)
        session.add(user)
        revoke_sessions(session, user_id=user.id, reason="password_changed", keep=keep_session)

    # Tokens

    def login(self, session: Session, *, email: str, password: str, client: Client) -> TokenPair:
        """Open a session for valid credentials.

        An unknown email and a wrong password take the same time and give the same
        answer, so the endpoint does not tell which emails have accounts. Failures
        are throttled per account and address (``app.core.auth.throttle``).
        """
        account, address = email.lower(), client.ip or "unknown"
        if self.throttle:
            self.throttle.check(account, address)
        user = session.exec(select(User).where(User.email == account)).first()
        if user is None:
            self.passwords.waste_time(password)
        if user is None or not self.passwords.verify(user.hashed_password, password):
            if self.throttle:
                self.throttle.failed(account, address)
            raise InvalidCredentials()
        if self.throttle:
            self.throttle.succeeded(account, address)
        if not user.is_active:
            raise AccountDisabled()
        if self.passwords.needs_rehash(user.hashed_password):
            user.hashed_password = self.passwords.hash(password)
            session.add(user)

        assert user.id is not None
        now = utcnow()
        auth_session = AuthSession(
            user_id=user.id,
            refresh_jti="",
            created_at=now,
            last_used_at=now,
            expires_at=self._expiry(now, created_at=now),
            user_agent=(client.user_agent or "")[:256] or None,
            client_ip=client.ip,
        )
        pair, refresh_jti = self._pair(user, auth_session.id)
        auth_session.refresh_jti = refresh_jti
        session.add(auth_session)
        session.flush()
        return pair

    def refresh(self, session: Session, *, refresh_token: str) -> TokenPair:
        """Swap a refresh token for a new pair; a replayed token revokes its session."""
        claims = self.tokens.decode(refresh_token, expected="refresh")
        found = session.exec(
            select(User, AuthSession)
            .join(AuthSession, col(AuthSession.user_id) == col(User.id))
            .where(AuthSession.id == claims.session_id, User.id == claims.user_id)
        ).first()
        if found is None:
            raise TokenRevoked()
        user, auth_session = found
        now = utcnow()
        if auth_session.revoked_at is not None:
            raise TokenRevoked()
        if auth_session.expires_at <= now:
            raise TokenExpired("The session expired; sign in again.")
        if not user.is_active:
            raise AccountDisabled()

        pair, new_jti = self._pair(user, auth_session.id)
        # Compare-and-swap: of two requests presenting the same token, one wins.
        swapped = session.execute(
            update(AuthSession)
            .where(
                col(AuthSession.id) == auth_session.id,
                col(AuthSession.refresh_jti) == claims.token_id,
                col(AuthSession.revoked_at).is_(None),
            )
            .values(
                refresh_jti=new_jti,
                last_used_at=now,
                expires_at=self._expiry(now, created_at=auth_session.created_at),
            )
        )
        if swapped.rowcount != 1:  # type: ignore[attr-defined]
            self._revoke_for_reuse(session, auth_session)
            raise TokenRevoked("This refresh token was already used; the session is revoked.")
        return pair

    def authenticate(self, open_session: Callable[[], Session], *, access_token: str) -> Principal:
        """Who an access token speaks for, if its session and its user are still valid.

        Answered from the shared session states when they know both (no
        database read), from the database otherwise.

        :param open_session: Gives the database session, called only if needed.
        """
        claims = self.tokens.decode(access_token, expected="access")
        session_state, user_state = (
            self.states.lookup(claims.session_id, claims.user_id) if self.states else (None, None)
        )
        if session_state is None:
            session_state = self._load_session(open_session(), claims.session_id)
        if (
            session_state is None
            or session_state["user_id"] != claims.user_id
            or session_state["usable_until"] <= time.time()
        ):
            raise TokenRevoked()
        if user_state is None:
            user_state = self._load_user(open_session(), claims.user_id)
        if user_state is None:
            raise TokenRevoked()
        if not user_state["active"]:
            raise AccountDisabled()
        return Principal(claims.user_id, claims.session_id, frozenset(user_state["roles"]))

    def _load_session(self, session: Session, session_id: uuid.UUID) -> dict[str, Any] | None:
        """``{"user_id", "usable_until"}`` of a session, from the database."""
        auth_session = session.get(AuthSession, session_id)
        if auth_session is None:
            return None
        usable = auth_session.revoked_at is None
        until = int(auth_session.expires_at.timestamp()) if usable else 0
        state = {"user_id": auth_session.user_id, "usable_until": until}
        if self.states:
            self.states.remember_session(session_id, state, ttl=max(until - time.time(), 1))
        return state

    def _load_user(self, session: Session, user_id: int) -> dict[str, Any] | None:
        """``{"roles", "active"}`` of a user, from the database."""
        user = session.get(User, user_id)
        if user is None:
            return None
        state = {"roles": list(user.roles), "active": user.is_active}
        if self.states:
            self.states.remember_user(user_id, state)
        return state

    def _pair(self, user: User, session_id: uuid.UUID) -> tuple[TokenPair, str]:
        """A new access and refresh token, and the id of the refresh token."""
        assert user.id is not None
        access, _ = self.tokens.issue(
            user_id=user.id, session_id=session_id, kind="access", roles=tuple(user.roles)
        )
        refresh, claims = self.tokens.issue(user_id=user.id, session_id=session_id, kind="refresh")
        pair = TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=self.tokens.lifetimes["access"],
        )
        return pair, claims.token_id

    def _expiry(self, now: datetime, *, created_at: datetime) -> datetime:
        sliding = now + timedelta(seconds=self.tokens.lifetimes["refresh"])
        return min(sliding, created_at + self.session_max_age)

    def _revoke_for_reuse(self, session: Session, auth_session: AuthSession) -> None:
        revoke_sessions(
            session,
            user_id=auth_session.user_id,
            reason="refresh_token_reuse",
            only=auth_session.id,
        )
        # The error response rolls the request back; the revocation must stay.
        session.commit()
        security_log.warning(
            "Refresh token reuse: session revoked",
            extra={
                "event": "auth.refresh_token_reuse",
                "user_id": auth_session.user_id,
                "session_id": str(auth_session.id),
            },
        )
