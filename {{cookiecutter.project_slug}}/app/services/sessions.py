"""Sign-in sessions: ending them, listing them, and sharing what is known about them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.core.cache import CacheBackend
from app.core.cache.copies import HeldCopies
from app.models.base import utcnow
from app.models.user import AuthSession

#: Where ``revoke_sessions`` notes the sessions it ended, in ``Session.info``.
REVOKED_SESSIONS = "revoked_sessions"
#: Where the ids of users whose roles or active flag changed are noted.
CHANGED_USERS = "changed_users"


class SessionStates:
    """What authentication needs to know about sessions and users, shared by
    every process in a store in front of the database (see :class:`HeldCopies`
    for the rules that keep each copy true to it).

    Two entries per signed-in caller, read together in one round trip:
    ``session:<id>`` (``{"user_id", "usable_until"}``, 0 once revoked) and
    ``user:<id>`` (``{"roles", "active"}``); a copy lives ``ttl`` seconds at most.
    """

    #: What an entry holds while its session or user is changing.
    CHANGING = HeldCopies.CHANGING

    def __init__(
        self, backend: CacheBackend, *, ttl: float, prefix: str = "states:", hold: float = 60
    ) -> None:
        self.backend = backend
        self.prefix = prefix
        self.ttl = ttl
        self._copies = HeldCopies(backend, name="Session states", hold=hold)

    def session_key(self, session_id: uuid.UUID) -> str:
        return f"{self.prefix}session:{session_id}"

    def user_key(self, user_id: int) -> str:
        return f"{self.prefix}user:{user_id}"

    def lookup(
        self, session_id: uuid.UUID, user_id: int
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The copies of a session and of its user; None where the database must answer."""
        session_copy, user_copy = self._copies.read(
            self.session_key(session_id), self.user_key(user_id)
        )
        return session_copy, user_copy

    def lookup_user(self, user_id: int) -> dict[str, Any] | None:
        """The copy of a user alone; None where the database must answer."""
        (user_copy,) = self._copies.read(self.user_key(user_id))
        return user_copy

    def remember_session(self, session_id: uuid.UUID, state: dict[str, Any], ttl: float) -> None:
        self._copies.remember(self.session_key(session_id), state, min(ttl, self.ttl))

    def remember_user(self, user_id: int, state: dict[str, Any]) -> None:
        self._copies.remember(self.user_key(user_id), state, self.ttl)

    def hold(self, *, sessions: set[uuid.UUID], users: set[int]) -> None:
        """Mark sessions and users as changing, before the change commits.

        :raises BackendError: The backend did not confirm: do not commit.
        """
        keys = [self.session_key(session_id) for session_id in sessions]
        self._copies.hold(keys + [self.user_key(user_id) for user_id in users])


def revoke_sessions(
    session: Session,
    *,
    user_id: int | None,
    reason: str,
    only: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> int:
    """End the user's active sessions (just ``only``, or all but ``keep``); return how many.

    The ids of the ended sessions are noted in ``session.info["revoked_sessions"]``,
    so that a cache of session states can drop them once the transaction commits.
    """
    query = select(AuthSession.id).where(
        AuthSession.user_id == user_id, col(AuthSession.revoked_at).is_(None)
    )
    if only is not None:
        query = query.where(AuthSession.id == only)
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    ended = set(session.exec(query).all())
    if ended:
        session.execute(
            update(AuthSession)
            .where(col(AuthSession.id).in_(ended))
            .values(revoked_at=utcnow(), revoked_reason=reason)
        )
        session.info.setdefault(REVOKED_SESSIONS, set()).update(ended)
    return len(ended)


def active_sessions(session: Session, *, user_id: int | None) -> list[AuthSession]:
    """The user's sessions that can still be used, newest first."""
    rows = session.exec(
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > utcnow(),
        )
        .order_by(col(AuthSession.last_used_at).desc())
    )
    return list(rows.all())
