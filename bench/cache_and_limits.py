"""Benchmarks of the cache and the rate limiter: prints figures, asserts nothing.

    python3 tasks.py bench        (or: .venv/bin/python bench/cache_and_limits.py [--seconds S])

Bakes the default project (SQLite, Redis) and serves it with gunicorn three
times at once, the servers differing in one setting each:

- ``full``: cache and rate limits on (with a budget too large to be met, so the
  figure is the cost of counting, not of refusing);
- ``no-cache``: ``CACHE_ENABLED=false``;
- ``no-limits``: ``RATE_LIMIT_ENABLED=false``.

It then measures requests/s on ``GET /api/v1/items`` (a page of 20 items) with
the cache (``full``) and without (``no-cache``), and on ``GET /api/v1/version``
with the rate limiter (``full``) and without (``no-limits``). The measurements
take turns, several rounds each, and the medians are printed with their ratios:
compare ratios between machines, not requests/s.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVERS = {
    "full": {},
    "no-cache": {"CACHE_ENABLED": "false"},
    "no-limits": {"RATE_LIMIT_ENABLED": "false"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bake(output: Path) -> Path:
    subprocess.run(
        # Public items (no auth) and no AI: the cache and the limiter alone.
        [
            BIN / "cookiecutter",
            "--no-input",
            "-o",
            output,
            TEMPLATE,
            "use_auth=no",
            "ai_provider=none",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (project,) = output.iterdir()
    return project


def project_env(project: Path, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "DATABASE_", "REDIS_", "PYTEST_"))
    }
    return {**env, "DATABASE_URL": f"sqlite:///{project / 'bench.db'}", **overrides}


def seed_items(project: Path, env: dict[str, str], count: int) -> None:
    """Migrate the database and store ``count`` items (directly: writes are rate limited)."""

    def python(*args: str) -> None:
        command = [sys.executable, *args]
        subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)

    python("-m", "flask", "--app", "app", "db", "upgrade")
    python(
        "-c",
        "from app import create_app\n"
        "from app.core.db import db\n"
        "from app.models import Item\n"
        "with create_app().app_context():\n"
        f"    db.session.add_all(Item(name=f'item {{n}}') for n in range({count}))\n"
        "    db.session.commit()\n",
    )


@contextmanager
def serving(project: Path, env: dict[str, str]) -> Iterator[int]:
    """gunicorn with one worker (and its threads) on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    process = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {command}") from None
                time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def requests_per_second(port: int, path: str, seconds: float, clients: int) -> float:
    """Requests/s of ``clients`` keep-alive connections calling ``path`` for ``seconds``."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
            counts[index] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def delete_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="measurements per figure")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections")
    options = parser.parse_args()

    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, ExitStack() as stack:
        project = bake(Path(tmp))
        base = project_env(
            project,
            APP_ENV="testing",
            REDIS_URL=REDIS_URL,
            REDIS_KEY_PREFIX=prefix,
            RATE_LIMIT_DEFAULT="100000000/minute",
            LOG_LEVEL="WARNING",
            WEB_CONCURRENCY="1",
        )
        seed_items(project, base, count=20)
        ports = {
            name: stack.enter_context(serving(project, {**base, **settings}))
            for name, settings in SERVERS.items()
        }
        cases = {
            "items, cached": (ports["full"], "/api/v1/items"),
            "items, uncached": (ports["no-cache"], "/api/v1/items"),
            "version, rate-limited": (ports["full"], "/api/v1/version"),
            "version, unlimited": (ports["no-limits"], "/api/v1/version"),
        }
        for port, path in cases.values():  # warm up: caches, connections, imports
            requests_per_second(port, path, 0.5, options.clients)
        for _ in range(options.rounds):
            for name, (port, path) in cases.items():
                rate = requests_per_second(port, path, options.seconds, options.clients)
                samples.setdefault(name, []).append(rate)
        shutil.rmtree(project / "instance", ignore_errors=True)
    delete_keys(prefix)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, gunicorn 1 worker, "
        f"{options.clients} clients, median of {options.rounds} x {options.seconds:g} s\n"
    )
    print(f"{'what':<26}{'req/s':>9}")
    for name, rate in medians.items():
        print(f"{name:<26}{rate:>9.0f}")
    print()
    cached = medians["items, cached"] / medians["items, uncached"]
    limited = medians["version, rate-limited"] / medians["version, unlimited"]
    print(f"{'items: cached / uncached':<34}{cached:>6.2f}")
    print(f"{'version: rate-limited / unlimited':<34}{limited:>6.2f}")


if __name__ == "__main__":
    main()
