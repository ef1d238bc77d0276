"""The cache: JSON values with a time to live, namespaces that are invalidated in one
step, and protection against stampedes and outages.

Values are stored as JSON, never pickled: whoever can write to the cache store
cannot make the app run code, and a value that is not JSON reads as a miss.
Entries of an old ``CACHE_VERSION`` or of an invalidated namespace are
unreachable (see ``keys``): they expire, or :meth:`CacheManager.purge_stale`
deletes them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from app.core.cache import keys
from app.core.cache.backends import BackendError, CacheBackend, FailFast

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: A generation outlives every entry of it; if its key expires anyway, the
#: namespace just starts over with a new one.
GENERATION_TTL = 7 * 24 * 3600
_MISS: Any = object()
_LOCKED: Any = object()


class CacheManager:
    """Get, set and compute JSON values in a :class:`CacheBackend`.

    When the backend fails, the manager serves without it: lookups miss, writes
    are skipped, ``get_or_set`` computes. After a failure it leaves the backend
    alone for ``retry_interval`` seconds, so an outage slows down one request,
    not every request.

    :param backend: Where entries live (a shared store, or this process).
    :param version: Part of every key (``CACHE_VERSION``).
    :param default_ttl: Seconds an entry lives when the caller gives no ``ttl``.
    :param enabled: False: every lookup misses and nothing is stored.
    :param lock_timeout: Seconds one caller may compute a missing value while the
        others wait for it; after that they compute it themselves.
    :param retry_interval: Seconds to serve without the backend after it failed.
    """

    def __init__(
        self,
        backend: CacheBackend,
        *,
        version: str,
        default_ttl: float,
        enabled: bool = True,
        lock_timeout: float = 10.0,
        retry_interval: float = 15.0,
    ) -> None:
        self.backend = backend
        self.version = version
        self.default_ttl = default_ttl
        self.enabled = enabled
        self.lock_timeout = lock_timeout
        self._guard = FailFast(retry_interval)
        self._pending_invalidations: set[str] = set()
        self._lock = threading.Lock()

    # -- the API -------------------------------------------------------------

    def get(self, key: str, default: Any = None, *, namespace: str | None = None) -> Any:
        """The value stored under ``key``, or ``default`` on a miss."""
        if not self.enabled:
            return default
        try:
            value = self._lookup(self._key(key, namespace))
        except BackendError:
            return default
        return default if value is _MISS else value

    def set(
        self, key: str, value: Any, ttl: float | None = None, *, namespace: str | None = None
    ) -> None:
        """Store ``value`` (anything ``json.dumps`` accepts) for ``ttl`` seconds.

        :raises TypeError: ``value`` is not JSON (sets, datetimes, objects...).
        """
        data = _encode(value)
        if self.enabled:
            with contextlib.suppress(BackendError):
                self._store(self._key(key, namespace), data, ttl)

    def delete(self, key: str, *, namespace: str | None = None) -> None:
        """Remove the entry under ``key``."""
        if self.enabled:
            with contextlib.suppress(BackendError):
                self._guard.call(self.backend.delete, self._key(key, namespace))

    def get_or_set(
        self,
        key: str,
        func: Callable[[], T],
        ttl: float | None = None,
        *,
        namespace: str | None = None,
    ) -> T:
        """Return the cached value of ``key``, or compute it with ``func`` and store it.

        When many callers miss the same key at once, one computes the value and
        the others wait for it (a lock in the backend, so this holds across
        processes when the backend is shared). An exception from ``func`` is
        raised to the caller and nothing is stored.

        Values round-trip through JSON: a tuple comes back as a list.
        """
        if not self.enabled:
            return func()
        try:
            full_key = self._key(key, namespace)
            value = self._lookup(full_key)
            if value is not _MISS:
                return cast(T, value)
            lock_key, token = keys.lock_key(self.version, full_key), uuid.uuid4().bytes
            turn = self._await_turn(full_key, lock_key, token)
        except BackendError:
            return func()
        if turn is not _LOCKED:  # another caller's value, or waited too long for it
            return cast(T, func() if turn is _MISS else turn)
        try:
            computed = func()
            with contextlib.suppress(BackendError):
                self._store(full_key, _encode(computed), ttl)
            return computed
        finally:
            with contextlib.suppress(BackendError):  # if it cannot be released, it expires
                self._guard.call(self.backend.delete_if_equal, lock_key, token)

    def invalidate(self, namespace: str) -> None:
        """Make every entry of ``namespace`` unreachable, in one write.

        If the backend is unavailable, this process retries the invalidation
        before it next reads the namespace, so a stale entry is not served once
        the backend is back.
        """
        keys.check_namespace(namespace)
        if not self.enabled:
            return
        with self._lock:
            self._pending_invalidations.add(namespace)
        with contextlib.suppress(BackendError):
            self._flush_invalidations()

    def purge_stale(self) -> dict[str, int]:
        """Delete the entries no lookup can reach any more: those of another
        ``CACHE_VERSION`` and of namespace generations that were replaced.

        Such entries expire on their own; purging frees the memory now. Safe
        to run any number of times, from any process.

        :returns: How many keys were looked at and how many were deleted.
        :raises BackendError: The backend is unavailable (the caller may retry).
        """
        generations: dict[str, bytes | None] = {}

        def generation_of(namespace: str) -> bytes | None:
            if namespace not in generations:
                generation_key = keys.generation_key(self.version, namespace)
                generations[namespace] = self.backend.get(generation_key)
            return generations[namespace]

        scanned, deleted, stale = 0, 0, []
        for key in self.backend.scan():
            scanned += 1
            if keys.is_stale(key, self.version, generation_of):
                stale.append(key)
            if len(stale) >= 500:
                self.backend.delete(*stale)
                deleted, stale = deleted + len(stale), []
        self.backend.delete(*stale)
        return {"scanned": scanned, "deleted": deleted + len(stale)}

    def _await_turn(self, full_key: str, lock_key: str, token: bytes) -> Any:
        """Take the lock to compute ``full_key`` (``_LOCKED``), or wait while another
        caller computes it and return their value (``_MISS`` if it takes too long)."""
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.01
        while not self._guard.call(self.backend.add, lock_key, token, self.lock_timeout):
            time.sleep(pause)
            pause = min(pause * 1.5, 0.1)
            value = self._lookup(full_key)
            if value is not _MISS or time.monotonic() > deadline:
                return value
        return _LOCKED

    # -- keys and generations -------------------------------------------------

    def _key(self, key: str, namespace: str | None) -> str:
        if namespace is None:
            return keys.entry_key(self.version, key, None, None)
        keys.check_namespace(namespace)
        return keys.entry_key(self.version, key, namespace, self._generation(namespace))

    def _generation(self, namespace: str) -> str:
        self._flush_invalidations()
        generation_key = keys.generation_key(self.version, namespace)
        current = self._guard.call(self.backend.get, generation_key)
        if current is None:
            # First use, or the key expired: start a generation (unless another
            # process just did, in which case use theirs).
            fresh = keys.new_generation()
            self._guard.call(self.backend.add, generation_key, fresh, GENERATION_TTL)
            current = self._guard.call(self.backend.get, generation_key) or fresh
        return current.decode()

    def _flush_invalidations(self) -> None:
        with self._lock:
            pending = sorted(self._pending_invalidations)
        for namespace in pending:
            generation_key = keys.generation_key(self.version, namespace)
            fresh = keys.new_generation()
            self._guard.call(self.backend.set, generation_key, fresh, GENERATION_TTL)
            with self._lock:
                self._pending_invalidations.discard(namespace)

    # -- values ----------------------------------------------------------------

    def _lookup(self, full_key: str) -> Any:
        raw = self._guard.call(self.backend.get, full_key)
        if raw is None:
            return _MISS
        try:
            return json.loads(raw)
        except ValueError:  # UnicodeDecodeError is a ValueError too
            logger.warning("Cache entry %r is not JSON; treated as a miss", full_key)
            return _MISS

    def _store(self, full_key: str, data: bytes, ttl: float | None) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        self._guard.call(self.backend.set, full_key, data, ttl)


def _encode(value: Any) -> bytes:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Cache values must be JSON-serializable: {exc}") from exc
    return text.encode()
