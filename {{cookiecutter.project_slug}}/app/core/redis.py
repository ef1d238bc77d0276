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

The client sends the commands of concurrent requests together
(:class:`BatchingRedis`): under load, a round trip to Redis costs the server
far more CPU than the command it carries, and every request of a worker would
otherwise pay for its own.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app
from redis import ConnectionError as RedisConnectionError
from redis import Redis, RedisError, ResponseError
from redis import TimeoutError as RedisTimeoutError
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from app.core import rate_limit_redis
from app.core.cache.redis_backend import RedisBackend
from app.core.config import Settings
from app.core.readiness import add_probe
from app.core.responses import error

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
#: A connection of redis-py, which leaves them untyped.
_Connection = Any
#: The failures of a connection that a retry on a new one can mend.
RETRIED = (RedisConnectionError, RedisTimeoutError)
_NO_RETRY = Retry(ExponentialBackoff(), retries=0)


#: Commands that wait on the server by design: sent on their own, never in a batch.
BLOCKING_COMMANDS = frozenset(
    {
        "BLMOVE",
        "BLMPOP",
        "BLPOP",
        "BRPOP",
        "BRPOPLPUSH",
        "BZMPOP",
        "BZPOPMAX",
        "BZPOPMIN",
        "WAIT",
        "WAITAOF",
        "XREAD",
        "XREADGROUP",
    }
)


class _Command:
    """One caller's command, waiting for its turn or for its reply."""

    __slots__ = ("abandoned", "answered", "args", "batch", "error", "options", "reply")

    def __init__(self, args: tuple[Any, ...], options: dict[str, Any]) -> None:
        self.args = args
        self.options = options
        self.answered = threading.Event()
        self.reply: Any = None
        self.error: BaseException | None = None
        #: Set on the command whose caller sends this batch.
        self.batch: list[_Command] | None = None
        #: Its caller stopped waiting (a timeout of its own request, say).
        self.abandoned = False


class BatchingRedis(Redis):
    """A client that sends the commands of concurrent callers in one round trip.

    A command sent while another caller's is on its way to Redis waits for it,
    and is then sent with every other command that arrived meanwhile, as one
    pipeline (not a transaction: each command is still its own), by the caller
    of the first of them. A caller alone sends its command at once, as a plain
    client would; under load, a worker's requests share their round trips
    instead of paying for one each.

    Each caller gets its own reply, or its own error: a command Redis refuses
    fails alone, and a lost connection fails every command of the batch that
    was sent on it, as it would have failed each one. A caller's commands still
    run in the order it sends them (it waits for each reply); there was never an
    order between the commands of different callers. Pipelines, transactions
    and blocking commands are sent as they are, on the pool's connections.

    Since one caller sends at a time, the commands go out on one connection of
    the process, held for the purpose: a command does not pay for taking a
    connection from the pool and checking it, which costs more CPU than sending
    it. A connection that fails is disconnected, and the command sent once more
    once it connects again, as the client's ``retry`` says (one retry, see
    :func:`create_client`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._start_afresh()
        _CLIENTS.add(self)

    def _start_afresh(self) -> None:
        """No queue, no sender, no connection: a new client's state, and a forked
        child's (a job's process, say), which must not wait on its parent's
        senders nor share its parent's socket."""
        self._queue_lock = threading.Lock()
        self._queued: list[_Command] = []
        self._sending = False
        self._held: _Connection | None = None

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if str(args[0]).upper() in BLOCKING_COMMANDS:
            # redis-py leaves execute_command untyped.
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        with self._queue_lock:
            queued = _Command(args, options) if self._sending else None
            if queued is None:
                self._sending = True
            else:
                self._queued.append(queued)
        if queued is None:  # alone: sent at once, as a plain client sends it
            try:
                return self._on_held_connection(
                    lambda connection: self._exchange(connection, args, options)
                )
            finally:
                self._hand_over()
        # Woken with the reply, or to send the batch it is now the first of.
        try:
            queued.answered.wait()
        except BaseException:
            self._abandon(queued)
            raise
        if queued.batch is not None:
            self._send(queued.batch)
        if queued.error is not None:
            raise queued.error
        return queued.reply

    def close(self) -> None:
        super().close()
        held, self._held = self._held, None
        if held is not None:
            held.disconnect()

    def _hand_over(self) -> None:
        """Make the first command that queued meanwhile the sender of them all."""
        with self._queue_lock:
            following = [command for command in self._queued if not command.abandoned]
            self._queued = []
            if following:
                following[0].batch = following
            else:
                self._sending = False
        if following:
            following[0].answered.set()

    def _abandon(self, command: _Command) -> None:
        """Its caller stopped waiting: if it was just made the sender of a batch,
        send the batch all the same, so that the callers in it are not stranded."""
        with self._queue_lock:
            command.abandoned = True
            batch = command.batch
        if batch is not None:
            self._send(batch)

    def _send(self, batch: list[_Command]) -> None:
        try:
            self._send_pipeline(batch)
        finally:
            self._hand_over()
            for command in batch[1:]:
                command.answered.set()

    def _send_pipeline(self, batch: list[_Command]) -> None:
        try:
            replies = self._on_held_connection(lambda connection: self._pipeline(connection, batch))
        except RedisError as exc:  # lost on the way: no reply for anyone
            for command in batch:
                command.error = exc
            return
        except BaseException:
            # The sender was interrupted (or failed): that exception is its alone.
            lost = RedisConnectionError("The batch this command was sent in was interrupted.")
            for command in batch:
                command.error = lost
            raise
        for command, reply in zip(batch, replies, strict=True):
            if isinstance(reply, Exception):
                command.error = reply
            else:
                command.reply = reply

    def _on_held_connection(self, exchange: Callable[[_Connection], _T]) -> _T:
        """Run ``exchange`` on the held connection; when the connection fails,
        disconnect it and run ``exchange`` again as the client's ``retry`` says
        (the connection connects anew as it sends)."""
        retry = self.get_retry() or _NO_RETRY
        try:
            return retry.call_with_retry(
                lambda: exchange(self._connection()), lambda error: self._disconnect()
            )
        except (ResponseError, *RETRIED):
            raise  # a refusal leaves the connection as it was; a failure was retried
        except BaseException:
            self._disconnect()  # interrupted: a reply may still be on the way
            raise

    def _connection(self) -> _Connection:
        """The connection this process sends on, taken from the pool once. A failed
        one is disconnected, and connects again when it next sends."""
        held = self._held
        if held is None:
            held = self._held = self.connection_pool.get_connection()
        return held

    def _disconnect(self) -> None:
        if self._held is not None:
            self._held.disconnect()

    def _exchange(
        self, connection: _Connection, args: tuple[Any, ...], options: dict[str, Any]
    ) -> Any:
        """Send one command and read its reply."""
        connection.send_command(*args, **options)
        return self.parse_response(connection, args[0], **options)  # type: ignore[no-untyped-call]

    def _pipeline(self, connection: _Connection, batch: list[_Command]) -> list[Any]:
        """Send every command of ``batch`` at once; read each one's reply or refusal."""
        connection.send_packed_command(
            connection.pack_commands([command.args for command in batch])
        )
        replies: list[Any] = []
        for command in batch:
            try:
                reply = self.parse_response(  # type: ignore[no-untyped-call]
                    connection, command.args[0], **command.options
                )
                replies.append(reply)
            except ResponseError as refusal:
                replies.append(refusal)
        return replies


#: Every client of this process, started afresh in a forked child.
_CLIENTS: weakref.WeakSet[BatchingRedis] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_CLIENTS):
        client._start_afresh()


os.register_at_fork(after_in_child=_after_fork_in_child)


def create_client(settings: Settings) -> Redis:
    """A client for ``REDIS_URL`` that fails fast (short timeouts, one quick retry)
    and shares round trips between concurrent requests (:class:`BatchingRedis`)."""
    assert settings.REDIS_URL, "REDIS_URL is not set"
    return BatchingRedis.from_url(
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
