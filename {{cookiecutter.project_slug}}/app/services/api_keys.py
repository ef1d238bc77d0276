"""API keys: create, list and revoke them, and check the one a request sends.

A key reads ``<label>_<prefix>_<secret>`` (``my_api_k3x9a2bq_...``): the label
makes leaked keys easy to find for secret scanners, the prefix finds the row
and tells keys apart in lists and logs, and the secret proves possession. Only
a keyed hash of the secret is stored (HMAC-SHA256 with a server-side pepper):
a key is 160 random bits, so a fast hash cannot be brute-forced the way a
password could, and a leaked table is useless without the pepper. A request
then costs one HMAC, not an argon2 run.

Every check does the same hashing work whether the prefix exists or not, and
compares in constant time, so timing tells nothing about which keys exist.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.core.auth.errors import AuthenticationError
from app.core.cache import BackendError, CacheBackend
from app.core.cache.copies import HeldCopies
from app.core.exceptions import ConflictError, NotFoundError, ValidationFailedError
from app.core.responses import FieldError
from app.models.api_key import ApiKey
from app.models.base import utcnow
from app.models.user import User
from app.schemas.api_key import ApiKeyCreate
from app.services.page import fetch_page
from app.services.sessions import SessionStates

#: The characters of prefixes and secrets (base32, lower case): no ``_``, so a
#: key splits unambiguously, and nothing a shell or a URL would mangle.
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
PREFIX_BYTES, SECRET_BYTES = 5, 20  # 8 and 32 characters
#: How often a key's last-used time is written, at most.
LAST_USED_EVERY = 60


class ApiKeyInvalid(AuthenticationError):
    code = "API_KEY_INVALID"
    message = "The API key is not valid."


class ApiKeyExpired(AuthenticationError):
    code = "API_KEY_EXPIRED"
    message = "The API key has expired; create a new one."


class ApiKeyRevoked(AuthenticationError):
    code = "API_KEY_REVOKED"
    message = "The API key was revoked."


class ApiKeyNotFound(NotFoundError):
    code = "API_KEY_NOT_FOUND"
    message = "You have no such API key."


class TooManyApiKeys(ConflictError):
    code = "API_KEY_LIMIT"
    message = "You have as many active API keys as allowed; revoke one first."


def _random_text(size: int) -> str:
    return base64.b32encode(secrets.token_bytes(size)).decode().lower().rstrip("=")


@dataclass(frozen=True)
class KeyFormat:
    """How keys are written and read back."""

    label: str

    def new(self) -> tuple[str, str, str]:
        """A fresh ``(prefix, secret, key)``."""
        prefix, secret = _random_text(PREFIX_BYTES), _random_text(SECRET_BYTES)
        return prefix, secret, f"{self.label}_{prefix}_{secret}"

    def looks_like_key(self, text: str) -> bool:
        """Whether ``text`` is meant as a key of this API (not a JWT, say)."""
        return text.startswith(f"{self.label}_")

    def parse(self, text: str) -> tuple[str, str] | None:
        """``(prefix, secret)`` of a well-formed key; None otherwise."""
        label, _, rest = text.rpartition("_")
        label, _, prefix = label.rpartition("_")
        secret = rest
        if (
            label != self.label
            or not _KEY_PART.fullmatch(prefix)
            or len(prefix) != 8
            or not _KEY_PART.fullmatch(secret)
            or len(secret) != 32
        ):
            return None
        return prefix, secret


_KEY_PART = re.compile(f"[{ALPHABET}]+")


class KeyHasher:
    """HMAC-SHA256 of secrets under the server's pepper."""

    def __init__(self, pepper: bytes) -> None:
        self._pepper = pepper
        #: Compared against when a prefix matches no key, so that path hashes too.
        self.decoy = self.digest(_random_text(SECRET_BYTES))

    def digest(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, secret: str, stored: str | None) -> bool:
        """One HMAC and one constant-time comparison, whether ``stored`` exists or not."""
        computed = self.digest(secret)
        return hmac.compare_digest(computed, stored or self.decoy) and stored is not None


class KeyStates:
    """Copies of key rows, by prefix, shared by every process in front of the
    database, under the rules of :class:`HeldCopies` (those of the auth module's
    session states): a change to a key (a revocation, a new key taking a prefix)
    holds its entry before it commits. A prefix that matches no key is
    remembered too, so an unknown prefix costs what a known one does.
    """

    def __init__(self, backend: CacheBackend, *, ttl: float, hold: float = 60) -> None:
        self.backend = backend
        self.ttl = ttl
        self._copies = HeldCopies(backend, name="API key states", hold=hold)

    @staticmethod
    def key(prefix: str) -> str:
        return f"key:{prefix}"

    def lookup(self, prefix: str) -> dict[str, Any] | None:
        """The copy of the key with ``prefix``; None where the database must answer."""
        (found,) = self._copies.read(self.key(prefix))
        return found

    def remember(self, prefix: str, state: dict[str, Any]) -> None:
        self._copies.remember(self.key(prefix), state, self.ttl)

    def hold(self, prefix: str) -> None:
        """Mark a key as changing, before the change commits.

        :raises BackendError: The backend did not confirm: do not commit.
        """
        self._copies.hold([self.key(prefix)])


@dataclass(frozen=True)
class VerifiedKey:
    """A key that passed every check: whose it is and what it may do."""

    id: uuid.UUID
    user_id: int
    scopes: frozenset[str]


class ApiKeys:
    """Everything about the API keys of one app.

    :param states: A store every process shares; without one, each request with
        a key reads its row from the database.
    :param recent_uses: Where the last-use throttle is kept (the shared store,
        or one in the process).
    """

    def __init__(
        self,
        *,
        key_format: KeyFormat,
        hasher: KeyHasher,
        max_per_user: int,
        states: KeyStates | None,
        recent_uses: CacheBackend,
    ) -> None:
        self.format = key_format
        self.hasher = hasher
        self.max_per_user = max_per_user
        self.states = states
        self.recent_uses = recent_uses

    # Management

    def create(
        self, session: Session, *, user_id: int, data: ApiKeyCreate, available: frozenset[str]
    ) -> tuple[ApiKey, str]:
        """Create a key of ``user_id``; return it and the key text, which exists only here."""
        unknown = sorted(set(data.scopes) - available)
        if unknown:
            raise ValidationFailedError(
                details=[
                    FieldError(
                        location="body",
                        field="scopes",
                        message=f"Unknown scopes {unknown}; this API offers {sorted(available)}.",
                        type="scope_unknown",
                    )
                ]
            )
        active = session.exec(
            select(func.count())
            .select_from(ApiKey)
            .where(ApiKey.user_id == user_id, col(ApiKey.revoked_at).is_(None))
        ).one()
        if active >= self.max_per_user:
            raise TooManyApiKeys()
        prefix, secret, text = self.format.new()
        now = utcnow()
        key = ApiKey(
            user_id=user_id,
            name=data.name,
            prefix=prefix,
            secret_hash=self.hasher.digest(secret),
            scopes=sorted(set(data.scopes)),
            created_at=now,
            expires_at=now + timedelta(days=data.expires_in_days) if data.expires_in_days else None,
        )
        if self.states is not None:
            self.states.hold(prefix)  # drops a remembered "no such key"
        session.add(key)
        session.flush()
        return key, text

    def list_keys(
        self, session: Session, *, user_id: int, limit: int, offset: int
    ) -> tuple[list[ApiKey], int]:
        """The user's keys, newest first, revoked ones included."""
        return fetch_page(
            session,
            ApiKey,
            where=[ApiKey.user_id == user_id],  # type: ignore[list-item]
            order_by=(col(ApiKey.created_at).desc(), col(ApiKey.id)),
            limit=limit,
            offset=offset,
        )

    def get(self, session: Session, *, key_id: uuid.UUID, user_id: int | None = None) -> ApiKey:
        """A key by id (of ``user_id`` only, if given); ``ApiKeyNotFound`` otherwise."""
        key = session.get(ApiKey, key_id)
        if key is None or (user_id is not None and key.user_id != user_id):
            raise ApiKeyNotFound()
        return key

    def find(self, session: Session, *, id_or_prefix: str) -> ApiKey:
        """A key by its id or its prefix (for operators)."""
        with contextlib.suppress(ValueError):
            return self.get(session, key_id=uuid.UUID(id_or_prefix))
        key = session.exec(select(ApiKey).where(ApiKey.prefix == id_or_prefix)).first()
        if key is None:
            raise ApiKeyNotFound(f"No API key has the id or prefix {id_or_prefix!r}.")
        return key

    def revoke(self, session: Session, *, key: ApiKey) -> ApiKey:
        """Revoke ``key`` on every server at once.

        :raises BackendError: The shared states could not be marked: the
            revocation must not commit (some server could still accept the key).
        """
        if key.revoked_at is None:
            if self.states is not None:
                self.states.hold(key.prefix)
            key.revoked_at = utcnow()
            session.add(key)
            session.flush()
        return key

    # Authentication

    def verify(self, open_session: Callable[[], Session], text: str) -> VerifiedKey:
        """The key ``text`` names, if its secret is right and it is still usable.

        :param open_session: Gives the database session, called only if needed.
        :raises ApiKeyInvalid: Malformed, unknown, or a wrong secret.
        :raises ApiKeyRevoked, ApiKeyExpired: Right, but no longer usable.
        """
        parsed = self.format.parse(text)
        if parsed is None:
            raise ApiKeyInvalid()
        prefix, secret = parsed
        state = self.states.lookup(prefix) if self.states else None
        if state is None:
            state = self._load(open_session(), prefix)
        if not self.hasher.matches(secret, state.get("hash")):
            raise ApiKeyInvalid()
        if state["revoked"]:
            raise ApiKeyRevoked()
        if state["expires"] is not None and state["expires"] <= time.time():
            raise ApiKeyExpired()
        key_id = uuid.UUID(state["id"])
        self._note_use(open_session, key_id)
        return VerifiedKey(key_id, state["user_id"], frozenset(state["scopes"]))

    def user_state(
        self, open_session: Callable[[], Session], user_id: int, shared: SessionStates | None
    ) -> dict[str, Any] | None:
        """``{"roles", "active"}`` of the key's user, as the auth module shares it
        (its copies are dropped when the user changes), or from the database."""
        if shared is not None and (known := shared.lookup_user(user_id)) is not None:
            return known
        user = open_session().get(User, user_id)
        if user is None:
            return None
        state = {"roles": list(user.roles), "active": user.is_active}
        if shared is not None:
            shared.remember_user(user_id, state)
        return state

    def _load(self, session: Session, prefix: str) -> dict[str, Any]:
        key = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        state: dict[str, Any] = {"hash": None}
        if key is not None:
            state = {
                "id": str(key.id),
                "user_id": key.user_id,
                "hash": key.secret_hash,
                "scopes": key.scopes,
                "revoked": key.revoked_at is not None,
                "expires": key.expires_at.timestamp() if key.expires_at else None,
            }
        if self.states is not None:
            self.states.remember(prefix, state)
        return state

    def _note_use(self, open_session: Callable[[], Session], key_id: uuid.UUID) -> None:
        """Write the key's last-used time, at most once a minute per key."""
        try:
            first = self.recent_uses.add(f"used:{key_id}", b"1", LAST_USED_EVERY)
        except BackendError:
            return  # a missed update is harmless; a write per request is not
        if first:
            now = utcnow()
            open_session().execute(
                update(ApiKey)
                .where(col(ApiKey.id) == key_id)
                .where(
                    col(ApiKey.last_used_at).is_(None)
                    | (col(ApiKey.last_used_at) < now - timedelta(seconds=LAST_USED_EVERY))
                )
                .values(last_used_at=now)
            )
