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
#: Told of each lookup the store answered: whether it hit, and the namespace.
LookupListener = Callable[[bool, str | None], None]

logger = logging.getLogger(__name__)

#: A generation outlives every entry of it; if its key expires anyway, the
#: namespace just starts over with a new one.
GENERATION_TTL = 7 * 24 * 3600
#: Seconds a namespace stays closed after a write began to change it, if the
#: write never says it is done (its process died, or lost the backend).
CHANGE_HOLD = 60
_MISS: Any = object()
_LOCKED: Any = object()
_BYPASS: Any = object()


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
        self._lookup_listeners: list[LookupListener] = []

    def on_lookup(self, listener: LookupListener) -> None:
        """Call ``listener(hit, namespace)`` after each lookup the store answers
        (a metrics module counts hits and misses so)."""
        self._lookup_listeners.append(listener)

    # -- the API -------------------------------------------------------------

    def get(self, key: str, default: Any = None, *, namespace: str | None = None) -> Any:
        """The value stored under ``key``, or ``default`` on a miss."""
        if not self.enabled:
            return default
        try:
            _, _, value = self._read(key, namespace)
        except BackendError:
            return default
        self._looked_up(value is not _MISS, namespace)
        return default if value is _MISS else value

    def set(
        self, key: str, value: Any, ttl: float | None = None, *, namespace: str | None = None
    ) -> None:
        """Store ``value`` (anything ``json.dumps`` accepts) for ``ttl`` seconds.

        :raises TypeError: ``value`` is not JSON (sets, datetimes, objects...).
        """
        data = _encode(value)
        if not self.enabled:
            return
        with contextlib.suppress(BackendError):
            full_key, generation = self._slot(key, namespace)
            if generation is not _BYPASS:
                self._store(full_key, generation, data, ttl)

    def delete(self, key: str, *, namespace: str | None = None) -> None:
        """Remove the entry under ``key``."""
        if namespace is not None:
            keys.check_namespace(namespace)
        if self.enabled:
            with contextlib.suppress(BackendError):
                full_key = keys.entry_key(self.version, key, namespace)
                self._guard.call(self.backend.delete, full_key)

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
        raised to the caller and nothing is stored. While a write to the
        namespace is being committed, ``func`` runs and nothing is stored.

        Values round-trip through JSON: a tuple comes back as a list.
        """
        if not self.enabled:
            return func()
        try:
            full_key, generation, value = self._read(key, namespace)
            self._looked_up(value is not _MISS, namespace)
            if value is not _MISS:
                return cast(T, value)
            if generation is _BYPASS:
                return func()
            lock_key, token = keys.lock_key(self.version, full_key), uuid.uuid4().bytes
            turn = self._await_turn(key, namespace, lock_key, token)
        except BackendError:
            return func()
        if turn is not _LOCKED:  # another caller's value, or waited too long for it
            return cast(T, func() if turn is _MISS else turn)
        try:
            # The caller that held the lock before may have stored the value
            # between this caller's miss and its lock: then it is not computed again.
            with contextlib.suppress(BackendError):
                _, _, value = self._read(key, namespace)
                if value is not _MISS:
                    return cast(T, value)
            computed = func()
            with contextlib.suppress(BackendError):
                self._store(full_key, generation, _encode(computed), ttl)
            return computed
        finally:
            with contextlib.suppress(BackendError):  # if it cannot be released, it expires
                self._guard.call(self.backend.delete_if_equal, lock_key, token)

    def invalidate(self, namespace: str) -> None:
        """Make every entry of ``namespace`` unreachable, in one write.

        If the backend is unavailable, this process retries the invalidation
        before it next reads the namespace, so a stale entry is not served once
        the backend is back. A write that must not succeed unless every process
        stops serving the old entries uses :meth:`begin_invalidation` instead.
        """
        keys.check_namespace(namespace)
        if not self.enabled:
            return
        with self._lock:
            self._pending_invalidations.add(namespace)
        with contextlib.suppress(BackendError):
            self._flush_invalidations()

    def begin_invalidation(self, *namespaces: str) -> None:
        """Before a write that changes ``namespaces`` commits: stop serving and
        storing their entries, in every process, until :meth:`finish_invalidation`.

        If it fails, the write must not commit: a process could go on serving
        what the write changed.

        :raises BackendError: The backend did not confirm.
        """
        for namespace in namespaces:
            keys.check_namespace(namespace)
        if not self.enabled or not namespaces:
            return
        changing = {keys.generation_key(self.version, ns): keys.CHANGING for ns in namespaces}
        # Tried even right after a failure (which reads skip): a write must know.
        self.backend.set_many(changing, CHANGE_HOLD)

    def finish_invalidation(self, *namespaces: str) -> None:
        """After the write committed (or failed): start new generations of
        ``namespaces``. If the backend is unavailable, the namespaces start over
        on their own ``CHANGE_HOLD`` seconds after :meth:`begin_invalidation`."""
        if not self.enabled or not namespaces:
            return
        fresh = {keys.generation_key(self.version, ns): keys.new_generation() for ns in namespaces}
        with contextlib.suppress(BackendError):
            self._guard.call(self.backend.set_many, fresh, GENERATION_TTL)

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

        scanned, deleted = 0, 0

        def purge(batch: list[str]) -> int:
            stored = self.backend.get_many(*batch) if batch else []
            stale = [
                key
                for key, value in zip(batch, stored, strict=True)
                if keys.is_stale(key, value, self.version, generation_of)
            ]
            self.backend.delete(*stale)
            return len(stale)

        batch: list[str] = []
        for key in self.backend.scan():
            scanned += 1
            batch.append(key)
            if len(batch) >= 500:
                deleted, batch = deleted + purge(batch), []
        deleted += purge(batch)
        return {"scanned": scanned, "deleted": deleted}

    def _await_turn(self, key: str, namespace: str | None, lock_key: str, token: bytes) -> Any:
        """Take the lock to compute ``key`` (``_LOCKED``), or wait while another
        caller computes it and return their value (``_MISS`` if it takes too long)."""
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.01
        while not self._guard.call(self.backend.add, lock_key, token, self.lock_timeout):
            time.sleep(pause)
            pause = min(pause * 1.5, 0.1)
            _, _, value = self._read(key, namespace)
            if value is not _MISS or time.monotonic() > deadline:
                return value
        return _LOCKED

    # -- keys, generations and values ------------------------------------------

    def _slot(self, key: str, namespace: str | None) -> tuple[str, Any]:
        """The backend key of ``key`` and the generation to store it under."""
        full_key = keys.entry_key(self.version, key, namespace)
        if namespace is None:
            return full_key, None
        keys.check_namespace(namespace)
        self._flush_invalidations()
        generation_key = keys.generation_key(self.version, namespace)
        current = self._guard.call(self.backend.get, generation_key)
        return full_key, self._generation(generation_key, current)

    def _looked_up(self, hit: bool, namespace: str | None) -> None:
        for listener in self._lookup_listeners:
            listener(hit, namespace)

    def _read(self, key: str, namespace: str | None) -> tuple[str, Any, Any]:
        """``(backend key, generation, value or _MISS)`` in one round trip: a plain
        entry alone, or an entry of a namespace with the namespace's generation."""
        full_key = keys.entry_key(self.version, key, namespace)
        if namespace is None:
            return full_key, None, _decode(full_key, self._guard.call(self.backend.get, full_key))
        keys.check_namespace(namespace)
        self._flush_invalidations()
        generation_key = keys.generation_key(self.version, namespace)
        current, stored = self._guard.call(self.backend.get_many, generation_key, full_key)
        generation = self._generation(generation_key, current)
        if generation is _BYPASS:
            return full_key, generation, _MISS
        return full_key, generation, _decode(full_key, keys.unseal(generation, stored))

    def _generation(self, generation_key: str, current: bytes | None) -> Any:
        """The generation to read and store under, or ``_BYPASS`` while a write commits."""
        if current is None:
            # First use, or the key expired: start a generation (unless another
            # process just did, in which case use theirs).
            fresh = keys.new_generation()
            if not self._guard.call(self.backend.add, generation_key, fresh, GENERATION_TTL):
                current = self._guard.call(self.backend.get, generation_key)
            current = current or fresh
        return _BYPASS if current == keys.CHANGING else current

    def _flush_invalidations(self) -> None:
        if not self._pending_invalidations:
            return
        with self._lock:
            pending = sorted(self._pending_invalidations)
        for namespace in pending:
            generation_key = keys.generation_key(self.version, namespace)
            fresh = keys.new_generation()
            self._guard.call(self.backend.set, generation_key, fresh, GENERATION_TTL)
            with self._lock:
                self._pending_invalidations.discard(namespace)

    def _store(self, full_key: str, generation: Any, data: bytes, ttl: float | None) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        self._guard.call(self.backend.set, full_key, keys.seal(generation, data), ttl)


def _decode(full_key: str, raw: bytes | None) -> Any:
    if raw is None:
        return _MISS
    try:
        return json.loads(raw)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        logger.warning("Cache entry %r is not JSON; treated as a miss", full_key)
        return _MISS


def _encode(value: Any) -> bytes:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Cache values must be JSON-serializable: {exc}") from exc
    return text.encode()
