"""Where cache entries live: the protocol a backend implements, and the in-process one.

Backends store bytes under string keys and know nothing of JSON, versions or
namespaces; :class:`~app.core.cache.manager.CacheManager` adds those. A backend
raises :class:`BackendError` when its store cannot be reached, and the manager
then serves without the cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)


class BackendError(Exception):
    """The cache store could not be reached or gave an unusable answer."""


class CacheBackend(Protocol):
    """A key-value store with expiry. Every ``ttl`` is in seconds."""

    def get(self, key: str) -> bytes | None:
        """The value under ``key``, or None."""
        ...

    def get_many(self, *keys: str) -> list[bytes | None]:
        """The values under ``keys`` (None where missing), in one round trip."""
        ...

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key``."""
        ...

    def set_many(self, entries: dict[str, bytes], ttl: float) -> None:
        """Store every entry, in one round trip."""
        ...

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` is absent; True if it was stored."""
        ...

    def incr(self, key: str, ttl: float) -> int:
        """Add one to the counter under ``key`` (0 if missing), which then lives ``ttl``."""
        ...

    def delete(self, *keys: str) -> None:
        """Remove ``keys`` (missing ones are ignored)."""
        ...

    def delete_if_equal(self, key: str, value: bytes) -> None:
        """Remove ``key`` only if it still holds ``value`` (releases a lock safely)."""
        ...

    def scan(self) -> Iterator[str]:
        """Every key, in no particular order."""
        ...


class MemoryBackend:
    """A dictionary in this process, safe across threads.

    Each process has its own: entries are not shared between gunicorn workers
    or app instances, so use it for development and single-process deployments.
    At most ``max_entries`` are kept; beyond that the oldest go first.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def _live(self, key: str, now: float) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= now:
            del self._entries[key]
            return None
        return value

    def _store(self, key: str, value: bytes, ttl: float, now: float) -> None:
        self._entries.pop(key, None)  # re-inserted last: the dict keeps age order
        self._entries[key] = (now + ttl, value)
        if len(self._entries) > self._max_entries:
            self._evict(now)

    def _evict(self, now: float) -> None:
        for key in [key for key, (expires_at, _) in self._entries.items() if expires_at <= now]:
            del self._entries[key]
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key, time.monotonic())

    def get_many(self, *keys: str) -> list[bytes | None]:
        with self._lock:
            now = time.monotonic()
            return [self._live(key, now) for key in keys]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        with self._lock:
            self._store(key, value, ttl, time.monotonic())

    def set_many(self, entries: dict[str, bytes], ttl: float) -> None:
        with self._lock:
            now = time.monotonic()
            for key, value in entries.items():
                self._store(key, value, ttl, now)

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._live(key, now) is not None:
                return False
            self._store(key, value, ttl, now)
            return True

    def incr(self, key: str, ttl: float) -> int:
        with self._lock:
            now = time.monotonic()
            count = int(self._live(key, now) or 0) + 1
            self._store(key, str(count).encode(), ttl, now)
            return count

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def delete_if_equal(self, key: str, value: bytes) -> None:
        with self._lock:
            if self._live(key, time.monotonic()) == value:
                del self._entries[key]

    def scan(self) -> Iterator[str]:
        with self._lock:
            keys = list(self._entries)
        yield from keys


class FailFast:
    """Calls a backend so that an outage costs one failed call, not one per request.

    After a call fails, every call raises :class:`BackendError` at once for
    ``retry_interval`` seconds without touching the store; then the next call
    tries it again. One warning is logged per interval.
    """

    def __init__(self, retry_interval: float, *, name: str = "Cache") -> None:
        self.retry_interval = retry_interval
        self.name = name
        self._down_until = 0.0
        self._lock = threading.Lock()

    def call(self, operation: Callable[..., T], *args: Any) -> T:
        """``operation(*args)``, unless the store failed less than ``retry_interval`` ago."""
        if time.monotonic() < self._down_until:
            raise BackendError("skipped: the cache store failed moments ago")
        try:
            return operation(*args)
        except BackendError as exc:
            with self._lock:
                if time.monotonic() >= self._down_until:
                    self._down_until = time.monotonic() + self.retry_interval
                    logger.warning(
                        "%s unavailable, serving without it for %.0f s: %s",
                        self.name,
                        self.retry_interval,
                        exc,
                    )
            raise
