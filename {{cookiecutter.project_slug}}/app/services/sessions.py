"""Sign-in sessions: ending them, listing them, and caching whether they are usable."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.core.cache import CacheManager
from app.models.base import utcnow
from app.models.user import AuthSession

#: Where ``revoke_sessions`` notes the sessions it ended, in ``Session.info``.
REVOKED_SESSIONS = "revoked_sessions"


class SessionStates:
    """Whether sign-in sessions are usable, cached in front of the database.

    The database stays the source of truth: an entry is only a copy of a
    session row, kept for ``ttl`` seconds at most, and dropped as soon as a
    revocation commits. A lost or flushed cache costs one database read; it can
    neither revive a revoked session nor end a live one.
    """

    NAMESPACE = "auth-sessions"

    def __init__(self, cache: CacheManager, *, ttl: float) -> None:
        self.cache = cache
        self.ttl = ttl

    def get(self, session_id: uuid.UUID) -> dict[str, int] | None:
        state: dict[str, int] | None = self.cache.get(str(session_id), namespace=self.NAMESPACE)
        return state

    def put(self, session_id: uuid.UUID, state: dict[str, int], *, ttl: float) -> None:
        self.cache.set(str(session_id), state, min(ttl, self.ttl), namespace=self.NAMESPACE)

    def forget(self, session_ids: set[uuid.UUID]) -> None:
        for session_id in session_ids:
            self.cache.delete(str(session_id), namespace=self.NAMESPACE)


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
