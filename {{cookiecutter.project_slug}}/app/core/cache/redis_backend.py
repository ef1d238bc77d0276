"""The Redis cache backend: entries shared by every process and app instance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from redis import Redis, RedisError

from app.core.cache.backends import BackendError

# Delete the key only while it holds the caller's token, in one step: a lock
# that expired and was taken by another process must not be released by us.
_DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
SCAN_BATCH = 500


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise BackendError(f"Redis is unavailable: {type(exc).__name__}: {exc}") from exc


class RedisBackend:
    """Cache entries in Redis, every key under ``namespace``.

    :param client: A client with short timeouts (see ``app.core.redis``).
    :param namespace: Prepended to every key, e.g. ``"my_api:cache:"``.
    """

    def __init__(self, client: Redis, namespace: str) -> None:
        self._client = client
        self._namespace = namespace
        self._delete_if_equal = client.register_script(_DELETE_IF_EQUAL)

    def get(self, key: str) -> bytes | None:
        with _reachable():
            return cast("bytes | None", self._client.get(self._namespace + key))

    def get_many(self, *keys: str) -> list[bytes | None]:
        with _reachable():
            found = self._client.mget([self._namespace + key for key in keys])
        return cast("list[bytes | None]", found)

    def set(self, key: str, value: bytes, ttl: float) -> None:
        with _reachable():
            self._client.set(self._namespace + key, value, px=max(1, int(ttl * 1000)))

    def set_many(self, entries: dict[str, bytes], ttl: float) -> None:
        with _reachable():
            pipeline = self._client.pipeline(transaction=False)
            for key, value in entries.items():
                pipeline.set(self._namespace + key, value, px=max(1, int(ttl * 1000)))
            pipeline.execute()

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        with _reachable():
            stored = self._client.set(
                self._namespace + key, value, px=max(1, int(ttl * 1000)), nx=True
            )
        return bool(stored)

    def incr(self, key: str, ttl: float) -> int:
        with _reachable():
            pipeline = self._client.pipeline(transaction=True)
            pipeline.incr(self._namespace + key)
            pipeline.pexpire(self._namespace + key, max(1, int(ttl * 1000)))
            count, _ = pipeline.execute()
        return int(count)

    def delete(self, *keys: str) -> None:
        if keys:
            with _reachable():
                # UNLINK frees the memory in the background: no pause for big values.
                self._client.unlink(*(self._namespace + key for key in keys))

    def delete_if_equal(self, key: str, value: bytes) -> None:
        with _reachable():
            self._delete_if_equal(keys=[self._namespace + key], args=[value])

    def scan(self) -> Iterator[str]:
        start = len(self._namespace)
        with _reachable():
            # SCAN walks the keyspace in batches without blocking Redis (unlike KEYS).
            for key in self._client.scan_iter(match=f"{self._namespace}*", count=SCAN_BATCH):
                yield key.decode()[start:]
