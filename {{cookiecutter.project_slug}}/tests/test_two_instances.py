"""Two app processes (gunicorn servers) sharing one Redis behave as one service:
one rate limit for both, and a write through one is read through the other."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.cached_resource import URL
from tests.fixtures.redis import RUN_PREFIX

PROJECT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body (None if empty) of one HTTP request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 - loopback
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        with exc:
            raw = exc.read()
            return exc.code, dict(exc.headers), json.loads(raw) if raw else None


@contextmanager
def instance(env: dict[str, str], log: Path) -> Iterator[str]:
    """A gunicorn server of the app on a free loopback port; yields its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "tests.instance_app:create_instance()",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - the project's own server
            command, cwd=PROJECT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    call("GET", f"{base}/api/v1/health")
                    break
                except (ConnectionError, urllib.error.URLError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
                    time.sleep(0.1)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two servers with the same settings and Redis key prefix."""
    folder = tmp_path_factory.mktemp("instances")
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "REDIS_KEY_PREFIX": f"{RUN_PREFIX}:instances",
        "RATE_LIMIT_DEFAULT": "4/minute",
        "TEST_RESOURCE_FILE": str(folder / "resource.json"),
    }
    with ExitStack() as stack:
        first = stack.enter_context(instance(env, folder / "first.log"))
        second = stack.enter_context(instance(env, folder / "second.log"))
        yield first, second


def test_alternating_between_instances_meets_one_limit(instances: tuple[str, str]) -> None:
    codes = [call("GET", f"{instances[n % 2]}/api/v1/version")[0] for n in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_a_write_through_one_instance_is_read_through_the_other(
    instances: tuple[str, str],
) -> None:
    first, second = instances
    call("POST", f"{first}{URL}", {"version": 1})
    for base in instances:
        call("GET", f"{base}{URL}")
    status, headers, body = call("GET", f"{second}{URL}")
    assert (status, headers["X-Cache"], body["data"]) == (200, "HIT", {"version": 1})

    assert call("POST", f"{first}{URL}", {"version": 2})[0] == 200
    status, headers, body = call("GET", f"{second}{URL}")
    assert (headers["X-Cache"], body["data"]) == ("MISS", {"version": 2})
