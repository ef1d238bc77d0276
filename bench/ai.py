"""Benchmark of the AI endpoint under gunicorn: prints figures, asserts nothing.

    .venv/bin/python bench/ai.py [--clients 110] [--seconds 10] [--delay 1.0]

Bakes the AI module alone (``ai_provider=openai``; no database, auth or Redis), serves it with
its own ``gunicorn.conf.py`` and ONE worker process, points ``AI_BASE_URL`` at a
loopback OpenAI-compatible upstream that answers after ``--delay`` seconds, and
keeps ``--clients`` concurrent clients posting to ``/api/v1/ai/generate`` (from a
process of their own, so their work does not slow the measurements). A prober
meanwhile calls ``/api/v1/health`` every 50 ms on a fresh connection. Printed: AI requests in
flight at the upstream (at most ``AI_MAX_CONCURRENT``; the rest are shed with
503 AI_BUSY), AI throughput against the ideal ``in flight / delay``, and the
health route's latency before and under that load.

Traffic goes only to 127.0.0.1; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE))

from tests.openai_upstream import serve_openai  # noqa: E402 - needs the path above

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bake(output: Path) -> Path:
    subprocess.run(
        [
            BIN / "cookiecutter",
            "--no-input",
            "-o",
            output,
            TEMPLATE,
            "database=none",
            "use_auth=no",
            "use_redis=no",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (project,) = output.iterdir()
    return project


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, float]:
    """One request on a fresh connection: (status, seconds)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            request(port, "GET", "/api/v1/health")
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def latencies_ms(
    port: int, count: int, interval: float, stop: threading.Event | None = None
) -> list[float]:
    samples = []
    for _ in range(count):
        if stop is not None and stop.is_set():
            break
        status, seconds = request(port, "GET", "/api/v1/health")
        if status == 200:
            samples.append(seconds * 1000)
        time.sleep(interval)
    return samples


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1] if len(ordered) >= 20 else ordered[-1]
    p99 = ordered[int(len(ordered) * 0.99) - 1] if len(ordered) >= 100 else ordered[-1]
    return (
        f"median {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms   "
        f"p99 {p99:6.1f} ms   max {ordered[-1]:6.1f} ms   (n={len(ordered)})"
    )


def load(port: int, clients: int, seconds: float) -> tuple[Counter[int], float]:
    """``clients`` threads posting AI requests back to back for ``seconds``."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    body = json.dumps({"prompt": "benchmark"}).encode()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            try:
                status, _ = request(port, "POST", "/api/v1/ai/generate", body)
            except OSError:
                status = 0
            with lock:
                statuses[status] += 1
            if status == 503:
                time.sleep(0.2)  # shed: back off as a well-behaved client would

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=110)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--delay", type=float, default=1.0, help="upstream latency (s)")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="bench-ai-") as tmp,
        serve_openai(args.delay) as (
            upstream_url,
            upstream,
        ),
    ):
        project = bake(Path(tmp))
        port = free_port()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("VIRTUAL_ENV", "DATABASE_", "REDIS_", "AI_", "OPENAI_"))
        }
        env.update(
            APP_ENV="production",
            SECRET_KEY="b" * 48,
            AI_API_KEY="sk-bench",
            AI_BASE_URL=upstream_url,
            AI_MAX_RETRIES="0",
            # Every client comes from 127.0.0.1: per-address limits would measure the limiter.
            RATE_LIMIT_ENABLED="false",
            LOG_LEVEL="WARNING",
            PORT=str(port),
            WEB_CONCURRENCY="1",
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"],
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(port)
            idle = latencies_ms(port, 100, 0.01)
            stop = threading.Event()
            under_load: list[float] = []

            def probe() -> None:
                time.sleep(2)  # let the load ramp up first
                under_load.extend(latencies_ms(port, 10_000, 0.05, stop))

            prober = threading.Thread(target=probe)
            prober.start()
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as clients:
                statuses, elapsed = clients.submit(load, port, args.clients, args.seconds).result()
            stop.set()
            prober.join()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    ok = statuses.get(200, 0)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; gunicorn.conf.py as shipped,")
    print(f"WEB_CONCURRENCY=1; upstream latency {args.delay:.1f} s; {args.clients} clients for")
    print(f"{args.seconds:.0f} s\n")
    print(f"AI requests in flight at the upstream (max)   {upstream.max_in_flight:>6}")
    print(f"AI requests answered 200                      {ok:>6}")
    print(f"AI throughput                                 {ok / elapsed:>6.1f} req/s")
    ideal = upstream.max_in_flight / args.delay
    print(f"  ideal at that concurrency (in flight/delay) {ideal:>6.1f} req/s")
    print(f"shed with 503 AI_BUSY (clients back off 0.2 s){statuses.get(503, 0):>6}")
    other = {status: n for status, n in statuses.items() if status not in (200, 503)}
    print(f"other outcomes                                {other or 'none'}")
    print()
    print(f"GET /api/v1/health, idle         {describe(idle)}")
    print(f"GET /api/v1/health, under load   {describe(under_load)}")


if __name__ == "__main__":
    main()
