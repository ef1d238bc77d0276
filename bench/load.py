"""Helpers for the HTTP benchmarks: bake a project, serve it, and measure requests/s.

The load comes from threads holding keep-alive connections on loopback; client and
server share the machine, so compare the ratios of one run, not absolute figures
across machines.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def clean_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "DATABASE_", "REDIS_", "PYTEST_"))
    }
    env.update(overrides)
    return env


def bake(output: Path, *answers: str) -> Path:
    shutil.rmtree(output, ignore_errors=True)
    subprocess.run(
        [BIN / "cookiecutter", "--no-input", "-o", output, TEMPLATE, *answers],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (project,) = output.iterdir()
    return project


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def call(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body) if body is not None else None
        sent = {"Content-Type": "application/json", **(headers or {})}
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


@contextmanager
def gunicorn(project: Path, env: dict[str, str], *args: str) -> Iterator[int]:
    """Serve ``project`` with its own gunicorn.conf.py on a free port; yield the port."""
    port = free_port()
    process = subprocess.Popen(
        [BIN / "gunicorn", "--bind", f"127.0.0.1:{port}", *args],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                call(port, "GET", "/api/v1/health")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start in {project}") from None
                time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def requests_per_second(
    port: int,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    expect: int = 200,
    seconds: float = 3.0,
    concurrency: int = 4,
) -> float:
    """How many ``GET path`` a few keep-alive clients complete per second."""
    stop = time.monotonic() + seconds
    counts = [0] * concurrency
    failures: list[str] = []

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.monotonic() < stop:
                connection.request("GET", path, headers=headers or {})
                response = connection.getresponse()
                response.read()
                if response.status != expect:
                    failures.append(f"{path}: {response.status}")
                    return
                counts[index] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(index,)) for index in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(failures[0])
    return sum(counts) / (time.monotonic() - started)


def median_of(runs: int, measure: Any) -> float:
    return statistics.median(measure() for _ in range(runs))
