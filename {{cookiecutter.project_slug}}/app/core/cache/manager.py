"""The cache: JSON values with a time to live, namespaces that are invalidated in one
step, and protection against stampedes and outages.

Values are stored as JSON, never pickled: whoever can write to the cache store
cannot make the app run code, and a value that is not JSON reads as a miss.

Every key starts with ``CACHE_VERSION``, so changing it on deploy leaves the old
entries unreachable (they expire, or :meth:`CacheManager.purge_stale` deletes
them). Inside the backend the keys look like this::

    {version}:key:{key}                           a plain entry
    {version}:ns:{namespace}:{generation}:{key}   an entry of a namespace
    {version}:gen:{namespace}                     the namespace's generation
    {version}:lock:{...}                          a miss being computed

Invalidating a namespace gives it a new random generation: one write, however
many entries it had. A generation is never reused, so even a generation key
that was evicted cannot bring old entries back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from app.core.cache.backends import BackendError, CacheBackend

T = TypeVar("T")

logger = logging.getLogger(__name__)

NAMESPACE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
#: A generation outlives every entry of it; if its key expires anyway, the
#: namespace just starts over with a new one.
GENERATION_TTL = 7 * 24 * 3600
_MISS: Any = object()


class _Bypass(Exception):
    """The backend is unavailable: serve without the cache."""


class CacheManager:
    """Get, set and compute JSON values in a :class:`CacheBackend`.

    :param backend: Where entries live (a shared store, or this process).
    :param version: Part of every key (``CACHE_VERSION``).
    :param default_ttl: Seconds an entry lives when the caller gives no ``ttl``.
    :param enabled: False: every lookup misses and nothing is stored.
    :param lock_timeout: Seconds one caller may compute a missing value while the
        others wait for it; after that they compute it themselves.
    :param retry_interval: Seconds to serve without the backend after it failed,
        before trying it again. At most one warning is logged per interval.
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
        self.retry_interval = retry_interval
        self._down_until = 0.0
        self._pending_invalidations: set[str] = set()
        self._lock = threading.Lock()

    # -- the API -------------------------------------------------------------

    def get(self, key: str, default: Any = None, *, namespace: str | None = None) -> Any:
        """The value stored under ``key``, or ``default`` on a miss."""
        try:
            value = self._lookup(self._key(key, namespace))
        except _Bypass:
            return default
        return default if value is _MISS else value

    def set(
        self, key: str, value: Any, ttl: float | None = None, *, namespace: str | None = None
    ) -> None:
        """Store ``value`` (anything ``json.dumps`` accepts) for ``ttl`` seconds.

        :raises TypeError: ``value`` is not JSON (sets, datetimes, objects...).
        """
        data = _encode(value)
        with contextlib.suppress(_Bypass):
            self._store(self._key(key, namespace), data, ttl)

    def delete(self, key: str, *, namespace: str | None = None) -> None:
        """Remove the entry under ``key``."""
        with contextlib.suppress(_Bypass):
            full_key = self._key(key, namespace)
            self._call(lambda: self.backend.delete(full_key))

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
        processes when the backend is shared). If the backend is unavailable,
        ``func`` runs and nothing is stored. An exception from ``func`` is
        raised to the caller and nothing is stored.

        Values round-trip through JSON: a tuple comes back as a list.
        """
        try:
            full_key = self._key(key, namespace)
            value = self._lookup(full_key)
        except _Bypass:
            return func()
        if value is not _MISS:
            return cast(T, value)

        lock_key, token = f"{self.version}:lock:{full_key}", uuid.uuid4().bytes
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.01
        while True:
            try:
                acquired = self._call(lambda: self.backend.add(lock_key, token, self.lock_timeout))
            except _Bypass:
                return func()
            if acquired:
                try:
                    computed = func()
                    with contextlib.suppress(_Bypass):
                        self._store(full_key, _encode(computed), ttl)
                    return computed
                finally:
                    self._release(lock_key, token)
            # Someone else is computing it: wait for their value.
            time.sleep(pause)
            pause = min(pause * 1.5, 0.1)
            try:
                value = self._lookup(full_key)
            except _Bypass:
                return func()
            if value is not _MISS:
                return cast(T, value)
            if time.monotonic() > deadline:
                return func()

    def invalidate(self, namespace: str) -> None:
        """Make every entry of ``namespace`` unreachable, in one write.

        If the backend is unavailable, this process retries the invalidation
        before it next reads the namespace, so a stale entry is not served once
        the backend is back.
        """
        _check_namespace(namespace)
        if not self.enabled:
            return
        with self._lock:
            self._pending_invalidations.add(namespace)
        with contextlib.suppress(_Bypass):
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
        scanned, stale = 0, []
        deleted = 0
        for key in self.backend.scan():
            scanned += 1
            if self._is_stale(key, generations):
                stale.append(key)
            if len(stale) >= 500:
                self.backend.delete(*stale)
                deleted, stale = deleted + len(stale), []
        self.backend.delete(*stale)
        return {"scanned": scanned, "deleted": deleted + len(stale)}

    # -- keys and generations -------------------------------------------------

    def _key(self, key: str, namespace: str | None) -> str:
        if not self.enabled:
            raise _Bypass
        if namespace is None:
            return f"{self.version}:key:{key}"
        _check_namespace(namespace)
        return f"{self.version}:ns:{namespace}:{self._generation(namespace)}:{key}"

    def _generation_key(self, namespace: str) -> str:
        return f"{self.version}:gen:{namespace}"

    def _generation(self, namespace: str) -> str:
        self._flush_invalidations()
        generation_key = self._generation_key(namespace)
        current = self._call(lambda: self.backend.get(generation_key))
        if current is None:
            # First use, or the key expired: start a generation (unless another
            # process just did, in which case use theirs).
            fresh = _new_generation()
            self._call(lambda: self.backend.add(generation_key, fresh, GENERATION_TTL))
            current = self._call(lambda: self.backend.get(generation_key)) or fresh
        return current.decode()

    def _flush_invalidations(self) -> None:
        with self._lock:
            pending = sorted(self._pending_invalidations)
        for namespace in pending:
            self._new_generation(namespace)
            with self._lock:
                self._pending_invalidations.discard(namespace)

    def _new_generation(self, namespace: str) -> None:
        generation_key = self._generation_key(namespace)
        self._call(lambda: self.backend.set(generation_key, _new_generation(), GENERATION_TTL))

    def _is_stale(self, key: str, generations: dict[str, bytes | None]) -> bool:
        version, _, rest = key.partition(":")
        if version != self.version:
            return True
        kind, _, rest = rest.partition(":")
        if kind != "ns":
            return False
        namespace, generation, _ = rest.split(":", 2)
        if namespace not in generations:
            generations[namespace] = self.backend.get(self._generation_key(namespace))
        current = generations[namespace]
        return current is None or current.decode() != generation

    # -- talking to the backend -----------------------------------------------

    def _call(self, operation: Callable[[], T]) -> T:
        """Run a backend operation; on failure, serve without the backend for a while."""
        if time.monotonic() < self._down_until:
            raise _Bypass
        try:
            return operation()
        except BackendError as exc:
            with self._lock:
                if time.monotonic() >= self._down_until:
                    self._down_until = time.monotonic() + self.retry_interval
                    logger.warning(
                        "Cache unavailable, serving without it for %.0f s: %s",
                        self.retry_interval,
                        exc,
                    )
            raise _Bypass from exc

    def _lookup(self, full_key: str) -> Any:
        raw = self._call(lambda: self.backend.get(full_key))
        if raw is None:
            return _MISS
        try:
            return json.loads(raw)
        except ValueError:  # UnicodeDecodeError is a ValueError too
            logger.warning("Cache entry %r is not JSON; treated as a miss", full_key)
            return _MISS

    def _store(self, full_key: str, data: bytes, ttl: float | None) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        self._call(lambda: self.backend.set(full_key, data, ttl))

    def _release(self, lock_key: str, token: bytes) -> None:
        with contextlib.suppress(_Bypass):  # if it cannot be released, it expires
            self._call(lambda: self.backend.delete_if_equal(lock_key, token))


def _encode(value: Any) -> bytes:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Cache values must be JSON-serializable: {exc}") from exc
    return text.encode()


def _new_generation() -> bytes:
    return uuid.uuid4().hex[:16].encode()


def _check_namespace(namespace: str) -> None:
    if not NAMESPACE.match(namespace):
        raise ValueError(
            f"Cache namespace {namespace!r} must be 1-100 letters, digits, '_', '.' or '-'."
        )
