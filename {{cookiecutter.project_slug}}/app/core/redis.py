"""The Redis client: one per app, with timeouts short enough to notice an outage.

redis-py's defaults wait forever for an answer, and a client built from host
and port retries with backoff for about ten seconds before it reports a Redis
that is down. Here connecting and every command give up after
``REDIS_TIMEOUT`` and are retried once, so the cache, the rate limiter and the
readiness check learn within a fraction of a second that Redis is gone, and
carry on without it.

One client (and its connection pool) serves the cache, the rate-limit counters
and the job queue of an app. The job worker opens its own connection, because
RQ waits on blocking reads that need a long timeout.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app
from redis import Redis, RedisError
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from app.core import rate_limit_redis
from app.core.cache.redis_backend import RedisBackend
from app.core.config import Settings
from app.core.readiness import add_probe
from app.core.responses import error

logger = logging.getLogger(__name__)


def create_client(settings: Settings) -> Redis:
    """A client for ``REDIS_URL`` that fails fast: short timeouts, one quick retry."""
    assert settings.REDIS_URL, "REDIS_URL is not set"
    return Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.REDIS_TIMEOUT,
        socket_timeout=settings.REDIS_TIMEOUT,
        # One retry covers a pooled connection that Redis closed (a restart, an
        # idle timeout); more would only make callers wait on a Redis that is down.
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
    )


def get_redis() -> Redis:
    """The Redis client of the current app."""
    client: Redis | None = current_app.extensions.get("redis")
    if client is None:
        raise RuntimeError("Redis is not configured: set REDIS_URL.")
    return client


def _redis_unavailable(exc: RedisError) -> Response:
    # A route that needs Redis (the job queue, say) cannot answer without it:
    # that is an outage to retry, not a bug. The cache and the rate limiter
    # carry on without Redis and never get here.
    logger.warning("Redis unavailable: %s", type(exc).__name__)
    return error(
        "A service this request needs is unavailable; try again shortly.",
        "REDIS_UNAVAILABLE",
        503,
        headers={"Retry-After": "1"},
    )


def init_app(app: Flask) -> None:
    """Connect the app's cache, rate limiter and readiness check to ``REDIS_URL``.

    Without ``REDIS_URL`` nothing happens: the cache and the rate limiter then
    keep their state in the process (fine for development, which is the only
    profile that may run without it).
    """
    app.register_error_handler(RedisError, _redis_unavailable)
    settings: Settings = app.extensions["settings"]
    if not settings.REDIS_URL:
        return
    client = create_client(settings)
    app.extensions["redis"] = client

    def probe() -> None:
        client.ping()

    add_probe(app, "redis", probe)
    app.extensions["cache_backend"] = RedisBackend(
        client, namespace=f"{settings.REDIS_KEY_PREFIX}:cache:"
    )
    # Other modules keep shared state under names of their own (``auth``, say).
    app.extensions["shared_store"] = lambda name: RedisBackend(
        client, namespace=f"{settings.REDIS_KEY_PREFIX}:{name}:"
    )
    # The rate limits of every process, counted in one round trip per request.
    app.extensions["rate_limit_store"] = rate_limit_redis.RedisLimitStore(
        client, prefix=f"{settings.REDIS_KEY_PREFIX}:limits"
    )
