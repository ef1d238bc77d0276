"""The generated API against bare Flask, under the same server: prints figures, asserts nothing.

    python3 tasks.py bench api [--seconds 5] [--rounds 3] [--connections 32]
    .venv/bin/python bench/api.py [--server-args "--worker-class gthread --threads 8"]

Bakes the default project (PostgreSQL, auth, Redis, AI), creates its tables in
a database of its own, and serves it in the production profile with its own
``gunicorn.conf.py`` as shipped, twice: as configured, and with
``CACHE_ENABLED=false`` (for the uncached reads). A one-route bare Flask app is
served by the same ``gunicorn.conf.py``. wrk (a load generator in a process of
its own) then takes turns on each target, several rounds, and the medians are
printed with their ratio to bare Flask:

- ``GET /api/v1/health``;
- ``GET /api/v1/version``: rate-limited, with a budget too large to be met, so
  the figure is the cost of counting, not of refusing;
- ``GET /api/v1/items`` with a token: cached, then uncached (a page of 20 items);
- ``POST /api/v1/items`` with a token, a new name each time.

Every run must answer only 2xx, and a second in which no request completed is
reported. Then 300 slow clients (sockets that send part of a request, a byte at
a time) are opened against the app while ``/api/v1/health`` is timed, and timed
again once they are gone.

PostgreSQL comes from ``TEST_POSTGRES_URL`` (default: the local server; a
database of its own, dropped at the end), Redis from ``TEST_REDIS_URL`` (a key
prefix of its own, deleted at the end). Traffic goes only to 127.0.0.1 and every
loop is bounded in time. Client and servers share the machine: compare the
ratios of one run, not requests/s across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import bake, call, clean_env, free_port

BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HEALTH_REQUEST = b"GET /api/v1/health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
WRK_MISSING = """wrk (the load generator) is not installed. Install it with:
    sudo apt-get install -y wrk      # Debian, Ubuntu
    brew install wrk                 # macOS
then run this again."""

BARE_APP = '''
"""One route, nothing else: what Flask and the server cost on their own."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/api/v1/health")
def health():
    return jsonify(status="ok")
'''

#: wrk script: counts the responses completed in each wall-clock second and the
#: non-2xx ones, and prints one JSON line at the end. ``BODY_PREFIX`` (set per
#: target) makes each POST a new item name.
WRK_SCRIPT = """
local threads = {}
counter = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  per_second = {}
  failed = 0
  body_prefix = args[1]
end

function request()
  if body_prefix == nil then
    return wrk.format()
  end
  counter = counter + 1
  return wrk.format(nil, nil, nil, body_prefix .. id .. "-" .. counter .. '"}')
end

function response(status, headers, body)
  local second = os.time()
  per_second[second] = (per_second[second] or 0) + 1
  if status >= 300 then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local seconds = {}
  local failures = 0
  for _, thread in ipairs(threads) do
    for second, count in pairs(thread:get("per_second")) do
      seconds[second] = (seconds[second] or 0) + count
    end
    failures = failures + thread:get("failed")
  end
  local first, last = nil, nil
  for second, _ in pairs(seconds) do
    if first == nil or second < first then first = second end
    if last == nil or second > last then last = second end
  end
  -- The first and the last second are partial: look at the whole ones between.
  local slowest = -1
  if first ~= nil then
    for second = first + 1, last - 1 do
      local count = seconds[second] or 0
      if slowest < 0 or count < slowest then slowest = count end
    end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "failed": %d, ' ..
    '"socket_errors": %d, "slowest_second": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    failures, errors.connect + errors.read + errors.write + errors.timeout, slowest))
end
"""


@dataclass
class Target:
    name: str
    port: int
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    #: For a POST: the start of a JSON body, ending inside a string that wrk completes.
    body_prefix: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def database() -> Iterator[str]:
    """A new, empty database next to the one ``POSTGRES_URL`` names; dropped afterwards."""
    name = f"bench_api_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(libpq(POSTGRES_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_prefix() -> Iterator[str]:
    prefix = f"bench-api-{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@contextmanager
def gunicorn(
    cwd: Path, env: dict[str, str], config: Path, extra: list[str], app: str | None = None
) -> Iterator[int]:
    """gunicorn with ``config`` on a free port; yields the port once health answers."""
    port = free_port()
    command = [BIN / "gunicorn", "--config", config, "--bind", f"127.0.0.1:{port}", *extra]
    process = subprocess.Popen(
        [*map(str, command), *([app] if app else [])],
        cwd=cwd,
        env={**env, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                call(port, "GET", "/api/v1/health")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start in {cwd}") from None
                time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wrk(
    target: Target, *, seconds: float, connections: int, threads: int, script: Path
) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    for name, value in target.headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{target.port}{target.path}")
    if target.body_prefix is not None:
        command += ["--", target.body_prefix]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def sign_in(port: int) -> str:
    account = {"email": "bench@example.com", "password": "a long passphrase", "full_name": "B"}
    status, body = call(port, "POST", "/api/v1/auth/register", account)
    assert status == 201, body
    credentials = {"email": account["email"], "password": account["password"]}
    status, body = call(port, "POST", "/api/v1/auth/login", credentials)
    assert status == 200, body
    token: str = body["data"]["access_token"]
    return token


def slow_clients(port: int, count: int, seconds: float) -> tuple[list[float], list[float]]:
    """Health latencies (ms) while ``count`` sockets trickle requests, and right after."""

    def health_ms() -> float:
        started = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(HEALTH_REQUEST)
                while sock.recv(65536):
                    pass
        except OSError:
            return float("inf")
        return (time.perf_counter() - started) * 1000

    sockets = []
    partials = [
        b"GET /api/v1/health HTTP/1.1\r\nHost: bench\r\nX-Slow: ",  # headers never end
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100000\r\n\r\n{"email": "',  # a body that never ends
    ]
    during = []
    try:
        for index in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(partials[index % 2])
            sockets.append(sock)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for sock in sockets:  # a byte each, to look alive
                with suppress(OSError):
                    sock.send(b"a")
            during.append(health_ms())
            time.sleep(0.1)
    finally:
        for sock in sockets:
            sock.close()
    after = [health_ms() for _ in range(10)]
    return during, after


def production_env(database_url: str, prefix: str, **overrides: str) -> dict[str, str]:
    """The environment of the baked project in the production profile, on the
    bench's database and Redis key prefix."""
    return clean_env(
        APP_ENV="production",
        SECRET_KEY="s" * 48,
        JWT_SECRET_KEY="j" * 48,
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        REDIS_KEY_PREFIX=prefix,
        AI_API_KEY="sk-bench-never-called",
        # Budgets too large to be met: the cost of counting, not of refusing.
        RATE_LIMIT_DEFAULT="10000000/minute",
        RATE_LIMIT_WRITES="10000000/minute",
        **overrides,
    )


def migrate(project: Path, env: dict[str, str]) -> None:
    """Create the project's tables."""
    subprocess.run(
        [BIN / "python", "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )


def describe_ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    median, worst = statistics.median(ordered), ordered[-1]
    return f"median {median:7.1f} ms, max {worst:7.1f} ms (n={len(ordered)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--slow-clients", type=int, default=300)
    parser.add_argument(
        "--server-args", default="", help="extra gunicorn arguments, for both servers"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(WRK_MISSING)
    extra = shlex.split(args.server_args)

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-api-")))
        project = bake(tmp / "bake")
        database_url = stack.enter_context(database())
        prefix = stack.enter_context(redis_prefix())
        env = production_env(database_url, prefix)
        migrate(project, env)
        config = project / "gunicorn.conf.py"
        bare = tmp / "bare"
        bare.mkdir()
        (bare / "bare.py").write_text(textwrap.dedent(BARE_APP))
        bare_port = stack.enter_context(gunicorn(bare, env, config, extra, app="bare:app"))
        app_port = stack.enter_context(gunicorn(project, env, config, extra))
        uncached_env = {**env, "CACHE_ENABLED": "false"}
        uncached_port = stack.enter_context(gunicorn(project, uncached_env, config, extra))

        token = sign_in(app_port)
        auth = {"Authorization": f"Bearer {token}"}
        for number in range(20):
            status, body = call(app_port, "POST", "/api/v1/items", {"name": f"i{number}"}, auth)
            assert status == 201, body
        json_auth = {**auth, "Content-Type": "application/json"}
        run_id = uuid.uuid4().hex[:6]
        targets = [
            Target("bare Flask /health", bare_port, "/api/v1/health"),
            Target("GET /api/v1/health", app_port, "/api/v1/health"),
            Target("GET /api/v1/version (rate-limited)", app_port, "/api/v1/version"),
            Target("GET /api/v1/items, token, cached", app_port, "/api/v1/items", auth),
            Target("GET /api/v1/items, token, uncached", uncached_port, "/api/v1/items", auth),
            Target(
                "POST /api/v1/items, token",
                app_port,
                "/api/v1/items",
                json_auth,
                body_prefix=f'{{"name": "b{run_id}-',
            ),
        ]
        script = tmp / "count.lua"
        script.write_text(WRK_SCRIPT)
        # Warm up every target (imports, pools, caches) before measuring.
        for target in targets:
            wrk(target, seconds=1, connections=8, threads=1, script=script)
        for round_number in range(args.rounds):
            for target in targets:
                if target.body_prefix is not None:
                    target.body_prefix = f'{{"name": "b{run_id}-{round_number}-'
                target.runs.append(
                    wrk(
                        target,
                        seconds=args.seconds,
                        connections=args.connections,
                        threads=args.threads,
                        script=script,
                    )
                )
        during, after = slow_clients(app_port, args.slow_clients, seconds=5)

    server = args.server_args or "gunicorn.conf.py as shipped"
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {server}; wrk -t{args.threads}")
    print(f"-c{args.connections} -d{args.seconds:g}s, {args.rounds} interleaved rounds, medians\n")
    baseline = statistics.median(run["rps"] for run in targets[0].runs)
    print(f"| {'what':<38} | req/s | x bare | p50 ms | p99 ms | slowest 1 s | non-2xx |")
    print(f"| {'-' * 38} | ----: | -----: | -----: | -----: | ----------: | ------: |")
    for target in targets:
        rps = statistics.median(run["rps"] for run in target.runs)
        p50 = statistics.median(run["p50_us"] for run in target.runs) / 1000
        p99 = statistics.median(run["p99_us"] for run in target.runs) / 1000
        slowest = min(run["slowest_second"] for run in target.runs)
        failed = sum(run["failed"] + run["socket_errors"] for run in target.runs)
        print(
            f"| {target.name:<38} | {rps:5.0f} | {rps / baseline:6.2f} | {p50:6.1f} | "
            f"{p99:6.1f} | {slowest:11d} | {failed:7d} |"
        )
    print(f"\n{args.slow_clients} slow clients: GET /api/v1/health {describe_ms(during)}")
    print(f"after they left:     GET /api/v1/health {describe_ms(after)}")


if __name__ == "__main__":
    main()
