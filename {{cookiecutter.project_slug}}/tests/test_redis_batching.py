"""The Redis client's batching: concurrent callers share round trips, and each
still gets its own reply or its own error (``app.core.redis.BatchingRedis``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis import ConnectionError as RedisConnectionError
from redis import Redis, ResponseError

from app.core.redis import BatchingRedis
from tests.test_redis import closed_port_url

CALLERS = 12


@pytest.fixture
def key_prefix(redis_key_prefix: str, redis_client: Redis) -> Iterator[str]:
    yield redis_key_prefix
    keys = list(redis_client.scan_iter(match=f"{redis_key_prefix}*"))
    if keys:
        redis_client.delete(*keys)


def batching_client(url: str, **options: Any) -> BatchingRedis:
    client = BatchingRedis.from_url(url, **options)
    assert isinstance(client, BatchingRedis)
    return client


class RoundTrips:
    """Counts a client's round trips (each one send on its connection), and holds
    the first one back until every caller is queued behind it."""

    def __init__(self, client: Redis, queued: Callable[[], bool]) -> None:
        self.count = 0
        self._queued = queued
        take: Any = client.connection_pool.get_connection

        def take_counted(*args: Any, **kwargs: Any) -> Any:
            connection = take(*args, **kwargs)
            send = connection.send_packed_command

            def counted_send(*args: Any, **kwargs: Any) -> Any:
                self.count += 1
                if self.count == 1:
                    deadline = time.monotonic() + 5
                    while not self._queued() and time.monotonic() < deadline:
                        time.sleep(0.005)
                return send(*args, **kwargs)

            connection.send_packed_command = counted_send
            return connection

        client.connection_pool.get_connection = take_counted  # type: ignore[method-assign]


def run_callers(client: BatchingRedis, calls: list[Callable[..., Any]]) -> list[Any]:
    """Run each call in a thread of its own, the first one first; each thread's
    reply, or the exception it raised."""
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except Exception as exc:  # noqa: BLE001  (the test looks at it)
            results[index] = exc

    first = threading.Thread(target=run, args=(0,))
    first.start()
    # Until the first caller is on its way to Redis, or already back: where it
    # cannot connect, it may fail and clear ``_sending`` before this thread looks.
    while not client._sending and first.is_alive():
        time.sleep(0.001)
    others = [threading.Thread(target=run, args=(index,)) for index in range(1, len(calls))]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(timeout=10)
        assert not thread.is_alive(), "a caller was left waiting"
    return results


def test_concurrent_callers_share_one_round_trip_and_get_their_own_replies(
    redis_server: str, key_prefix: str
) -> None:
    client = batching_client(redis_server)
    round_trips = RoundTrips(client, lambda: len(client._queued) == CALLERS - 1)
    calls = [
        lambda number=number: client.incrby(f"{key_prefix}:n{number}", number)
        for number in range(CALLERS)
    ]

    results = run_callers(client, calls)

    assert results == list(range(CALLERS))
    # The first caller alone, then everyone who queued behind it, together.
    assert round_trips.count == 2
    assert client.get(f"{key_prefix}:n5") == b"5"
    assert not client._sending
    assert client._queued == []


def test_a_refused_command_fails_alone(redis_server: str, key_prefix: str) -> None:
    client = batching_client(redis_server)
    client.set(f"{key_prefix}:text", "not a number")
    RoundTrips(client, lambda: len(client._queued) == 3)
    calls: list[Callable[..., Any]] = [
        lambda: client.incr(f"{key_prefix}:a"),
        lambda: client.incr(f"{key_prefix}:b"),
        lambda: client.incr(f"{key_prefix}:text"),
        lambda: client.incr(f"{key_prefix}:c"),
    ]

    first, second, refused, last = run_callers(client, calls)

    assert (first, second, last) == (1, 1, 1)
    assert isinstance(refused, ResponseError)
    assert "not an integer" in str(refused)


def test_a_script_unknown_to_redis_is_loaded_and_run_for_each_caller(
    redis_server: str, key_prefix: str
) -> None:
    client = batching_client(redis_server)
    # A script Redis has never seen (EVALSHA answers NOSCRIPT to each caller first).
    script = client.register_script(
        f"-- {uuid.uuid4().hex}\nreturn redis.call('incrby', KEYS[1], ARGV[1])"
    )
    RoundTrips(client, lambda: len(client._queued) == CALLERS - 1)
    calls = [
        lambda number=number: script(keys=[f"{key_prefix}:s{number}"], args=[number])
        for number in range(CALLERS)
    ]

    assert run_callers(client, calls) == list(range(CALLERS))


def test_with_redis_down_every_caller_gets_an_error_and_none_waits() -> None:
    client = batching_client(closed_port_url(), socket_connect_timeout=0.5)
    RoundTrips(client, lambda: len(client._queued) == CALLERS - 1)
    calls = [lambda number=number: client.get(f"k{number}") for number in range(CALLERS)]

    results = run_callers(client, calls)

    assert all(isinstance(result, RedisConnectionError) for result in results), results
    assert not client._sending


#: Run under gevent, as the shipped server runs the app. Callers whose own
#: timeout interrupts them strand nobody: not while they wait in the queue
#: (even next in line to send), nor while they send a batch (its other callers
#: get a connection error, as if the connection had been lost).
GEVENT_CALLERS = """
from gevent import monkey

monkey.patch_all()

import sys

import gevent
from redis import ConnectionError, Redis

from app.core.redis import BatchingRedis

url, prefix = sys.argv[1], sys.argv[2]
plain = Redis.from_url(url)


def scenario(name, slow_round_trips, timeouts):
    client = BatchingRedis.from_url(url)
    take = client.connection_pool.get_connection
    sent = []

    def take_slow(*args, **kwargs):
        connection = take(*args, **kwargs)
        send = connection.send_packed_command

        def slow_send(*args, **kwargs):
            sent.append(1)
            if len(sent) <= slow_round_trips:
                gevent.sleep(0.2)
            return send(*args, **kwargs)

        connection.send_packed_command = slow_send
        return connection

    client.connection_pool.get_connection = take_slow

    def caller(number):
        try:
            with gevent.Timeout(timeouts.get(number, 5)):
                return client.incrby(f"{prefix}:{name}{number}", number)
        except gevent.Timeout:
            return "timed out"
        except ConnectionError:
            return "lost"

    first = gevent.spawn(caller, 0)
    gevent.sleep(0.01)  # caller 0 is on its way; the others queue behind it
    callers = [first, *(gevent.spawn(caller, number) for number in range(1, 6))]
    gevent.joinall(callers, timeout=10)
    with gevent.Timeout(2):
        assert client.incrby(f"{prefix}:{name}-after", 7) == 7  # nothing is stuck
    return [greenlet.value for greenlet in callers]


# Callers 1 (next in line to send) and 3 give up while queued.
queued = scenario("q", 1, {1: 0.05, 3: 0.05})
assert queued == [0, "timed out", 2, "timed out", 4, 5], queued
assert plain.get(f"{prefix}:q1") is None  # never sent
# Caller 1 gives up while it sends the second batch.
sending = scenario("s", 2, {1: 0.3})
assert sending == [0, "timed out", "lost", "lost", "lost", "lost"], sending
"""


def test_under_gevent_callers_that_give_up_strand_nobody(
    redis_server: str, key_prefix: str
) -> None:
    finished = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", GEVENT_CALLERS, redis_server, key_prefix],
        cwd=os.getcwd(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr


def test_a_forked_child_has_a_client_of_its_own(redis_server: str, key_prefix: str) -> None:
    """A child forked while its parent was sending (a job's process, say) neither
    waits for that sender nor shares the parent's connection."""
    client = batching_client(redis_server)
    client.set(f"{key_prefix}:parent", 1)  # the parent holds a connection now
    parent_connection = client._held
    client._sending = True  # as if another thread were on its way to Redis
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code
        try:
            own = client._held is None
            counted = client.incr(f"{key_prefix}:child") == 1
            os._exit(0 if own and counted and client._held is not parent_connection else 1)
        except BaseException:  # noqa: BLE001
            os._exit(2)
    client._sending = False
    deadline = time.monotonic() + 10
    while (waited := os.waitpid(child, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    if waited == (0, 0):
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        pytest.fail("the child waited for its parent's sender")
    assert os.waitstatus_to_exitcode(waited[1]) == 0
    assert client.get(f"{key_prefix}:child") == b"1"
    assert client.incr(f"{key_prefix}:parent") == 2  # the parent's connection still works
