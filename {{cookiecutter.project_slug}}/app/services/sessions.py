"""Sign-in sessions: ending them, listing them, and sharing what is known about them."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.core.cache import BackendError, CacheBackend
from app.core.cache.backends import FailFast
from app.models.base import utcnow
from app.models.user import AuthSession

#: Where ``revoke_sessions`` notes the sessions it ended, in ``Session.info``.
REVOKED_SESSIONS = "revoked_sessions"
#: Where the ids of users whose roles or active flag changed are noted.
CHANGED_USERS = "changed_users"


class SessionStates:
    """What authentication needs to know about sessions and users, shared by
    every process in a store in front of the database.

    Two entries per signed-in caller, read together in one round trip:
    ``session:<id>`` (``{"user_id", "usable_until"}``, 0 once revoked) and
    ``user:<id>`` (``{"roles", "active"}``). The database stays the source of
    truth, and three rules keep every copy true to it:

    - a copy is stored only where no entry is (``add``), right after it was
      read from the database;
    - before a change to a session or a user commits, its entries are replaced
      by a ``CHANGING`` mark for ``hold`` seconds: readers then ask the database
      and store nothing, so no copy read before the commit can land after it.
      If the mark cannot be written, :meth:`hold` raises and the change must not
      commit;
    - a copy lives ``ttl`` seconds at most.

    A lost, flushed or restarted backend only sends readers to the database.
    """

    CHANGING = b"-"

    def __init__(
        self, backend: CacheBackend, *, ttl: float, prefix: str = "states:", hold: float = 60
    ) -> None:
        self.backend = backend
        self.prefix = prefix
        self.ttl = ttl
        self.hold_seconds = hold
        # Reads fall back to the database; after a failure they leave the backend
        # alone for a few seconds, so an outage slows down one request, not each.
        self._guard = FailFast(retry_interval=5, name="Session states")

    def session_key(self, session_id: uuid.UUID) -> str:
        return f"{self.prefix}session:{session_id}"

    def user_key(self, user_id: int) -> str:
        return f"{self.prefix}user:{user_id}"

    def lookup(
        self, session_id: uuid.UUID, user_id: int
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The copies of a session and of its user; None where the database must answer."""
        keys = self.session_key(session_id), self.user_key(user_id)
        try:
            found = self._guard.call(self.backend.get_many, *keys)
        except BackendError:
            return None, None
        session_copy, user_copy = (_parse(raw) for raw in found)
        return session_copy, user_copy

    def remember_session(self, session_id: uuid.UUID, state: dict[str, Any], ttl: float) -> None:
        self._remember(self.session_key(session_id), state, min(ttl, self.ttl))

    def remember_user(self, user_id: int, state: dict[str, Any]) -> None:
        self._remember(self.user_key(user_id), state, self.ttl)

    def hold(self, *, sessions: set[uuid.UUID], users: set[int]) -> None:
        """Mark sessions and users as changing, before the change commits.

        :raises BackendError: The backend did not confirm: do not commit.
        """
        marks = {self.session_key(session_id): self.CHANGING for session_id in sessions}
        marks.update({self.user_key(user_id): self.CHANGING for user_id in users})
        if marks:  # not skipped after a failure, as reads are: a change must try
            self.backend.set_many(marks, self.hold_seconds)

    def _remember(self, key: str, state: dict[str, Any], ttl: float) -> None:
        data = json.dumps(state, separators=(",", ":")).encode()
        with contextlib.suppress(BackendError):  # the database answers next time
            self._guard.call(self.backend.add, key, data, max(ttl, 0.001))


def _parse(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None or raw == SessionStates.CHANGING:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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
