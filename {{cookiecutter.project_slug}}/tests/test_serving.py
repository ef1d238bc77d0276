"""The production server as ``gunicorn.conf.py`` sets it up: slow clients cannot starve it.

Each test starts ``gunicorn`` from the project folder, as the README's production
command does, on a free loopback port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# One test worker runs these: they start servers under hundreds of slow clients.
pytestmark = pytest.mark.xdist_group("serving")

PROJECT = Path(__file__).resolve().parents[1]
SLOW_CLIENTS = 300
#: A starved server does not answer until the slow clients give up; one that is
#: not answers in milliseconds (bench/api.py in the template measures how many).
#: The bound is generous so that a busy machine does not fail the test.
ANSWERS_WITHIN = 5.0
HEALTH = b"GET /api/v1/health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
#: Requests that never finish: headers that never end, and a body that never comes.
PARTIAL_REQUESTS = [
    b"GET /api/v1/health HTTP/1.1\r\nHost: test\r\nX-Slow: ",
    b"POST /api/v1/version HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    b'Content-Length: 100000\r\n\r\n{"a": "',
]


def health_seconds(port: int) -> float:
    """Seconds for one ``GET /api/v1/health`` on a new connection (it must answer 200)."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWERS_WITHIN) as sock:
        sock.sendall(HEALTH)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``gunicorn`` with the project's own settings, serving the testing profile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("serving") / "gunicorn.log"
    # One worker process, which must hold every slow client and still answer;
    # the default (one per CPU) would start as many as the machine has CPUs.
    env = {**os.environ, "APP_ENV": "testing", "PORT": str(port), "WEB_CONCURRENCY": "1"}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - the project's own server
            command, cwd=PROJECT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    health_seconds(port)
                    break
                except (OSError, AssertionError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
                    time.sleep(0.1)
            yield port
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_health_answers_while_hundreds_of_clients_trickle(
    server_port: int,
) -> None:
    sockets = []
    try:
        for number in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", server_port), timeout=5)
            sock.sendall(PARTIAL_REQUESTS[number % 2])
            sockets.append(sock)
        for sock in sockets:  # a byte more each: alive, and still not done
            sock.sendall(b"a")
        assert max(health_seconds(server_port) for _ in range(5)) < ANSWERS_WITHIN
    finally:
        for sock in sockets:
            sock.close()
    # Once they are gone, nothing of them is left to slow anything down.
    assert max(health_seconds(server_port) for _ in range(5)) < ANSWERS_WITHIN


def test_sizing_follows_the_cpus_the_process_may_use() -> None:
    namespace: dict[str, object] = {}
    exec((PROJECT / "gunicorn.conf.py").read_text(), namespace)  # noqa: S102 - our own file
    cpus = namespace["available_cpus"]
    assert callable(cpus)
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert 1 <= cpus() <= (allowed or 1)
    if "WEB_CONCURRENCY" not in os.environ:
        assert namespace["workers"] == max(2, cpus())
    assert namespace["worker_class"] == "gevent"
    assert namespace["max_requests"] == 0  # no recycling that restarts every worker at once
