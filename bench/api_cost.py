"""CPU cost per request of the generated API against bare Flask: prints figures, asserts nothing.

    python3 tasks.py bench api-cost [--requests 100] [--keep DIR]
    .venv/bin/python bench/api_cost.py [--cpu-time] [--metrics off|on|multiprocess]

Wall-clock throughput on a shared machine moves with whatever else runs;
the number of instructions a request executes does not. This bakes the
default project, serves nothing, and calls each app's WSGI callable directly
(the environ a server would build, made in advance), in one process run under
``valgrind --tool=callgrind``: instructions are counted only while the measured
requests run (each one a step of an ``itertools.starmap``, which nothing in the
request path uses), and one profile is dumped per route.

The routes are those of ``bench/api.py`` (health, version with rate limits,
authenticated items GET cached and uncached, authenticated POST), on
PostgreSQL and Redis in the production profile; bare Flask is one route that
answers ``{"status": "ok"}``. The client side of the database and Redis round
trips counts (the app's own CPU); the servers' does not.

``--metrics`` chooses how the project measures itself: ``on`` (as baked: one
process's values in memory), ``off`` (``METRICS_ENABLED=false``), or
``multiprocess`` (values in the files of a ``PROMETHEUS_MULTIPROC_DIR``, as
under gunicorn).

``--cpu-time`` measures CPU microseconds per request instead (no valgrind:
quicker, but as noisy as the machine). ``--keep DIR`` keeps the callgrind
profiles (``callgrind_annotate DIR/callgrind.out.*``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import BARE_APP, database, migrate, production_env, redis_prefix
from load import bake

BIN = Path(sys.executable).parent
ROUTES = ("bare", "health", "version", "items_cached", "items_uncached", "post_items")

#: Runs in the project's directory, under valgrind or not. It prints one line
#: per route when it measures CPU time; under valgrind the profiles say it.
DRIVER = """
import io
import json
import os
import sys
import time
import uuid
from itertools import starmap

sys.path.insert(0, os.getcwd())
sys.path.insert(1, os.environ["BARE_DIR"])

from bare import app as bare_app
from app import create_app
from app.core.config import Settings

REQUESTS, WARM_UP = int(os.environ["REQUESTS"]), int(os.environ["WARM_UP"])
CPU_TIME = os.environ.get("CPU_TIME") == "1"


def environ(method, path, query="", headers=(), body=b""):
    env = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "RAW_URI": path + ("?" + query if query else ""),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        env["HTTP_" + name.upper().replace("-", "_")] = value
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    return env


def call(app, env):
    status = []
    result = app(env, lambda line, headers, exc_info=None: status.append(line))
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(status[0].split()[0]), body


cached_app = create_app()
uncached_app = create_app(Settings(CACHE_ENABLED=False))
account = {"email": "cost@example.com", "password": "a long passphrase", "full_name": "C"}
payload = json.dumps(account).encode()
status, _ = call(cached_app, environ("POST", "/api/v1/auth/register", body=payload))
assert status == 201, status
login = json.dumps({"email": account["email"], "password": account["password"]}).encode()
status, body = call(cached_app, environ("POST", "/api/v1/auth/login", body=login))
assert status == 200, body
auth = [("Authorization", "Bearer " + json.loads(body)["data"]["access_token"])]
for number in range(20):
    item = json.dumps({"name": f"seed-{number}"}).encode()
    status, body = call(cached_app, environ("POST", "/api/v1/items", headers=auth, body=item))
    assert status == 201, body

run_id = uuid.uuid4().hex[:6]
ROUTES = {
    "bare": (bare_app, lambda n: environ("GET", "/api/v1/health"), 200),
    "health": (cached_app, lambda n: environ("GET", "/api/v1/health"), 200),
    "version": (cached_app, lambda n: environ("GET", "/api/v1/version"), 200),
    "items_cached": (cached_app, lambda n: environ("GET", "/api/v1/items", headers=auth), 200),
    "items_uncached": (
        uncached_app, lambda n: environ("GET", "/api/v1/items", headers=auth), 200
    ),
    "post_items": (
        cached_app,
        lambda n: environ(
            "POST",
            "/api/v1/items",
            headers=auth,
            body=json.dumps({"name": f"c{run_id}-{n}"}).encode(),
        ),
        201,
    ),
}


def serve(app, env, expected):
    status, body = call(app, env)
    if status != expected:
        raise SystemExit(f"{status}: {body[:300]!r}")


for name in os.environ["ROUTES"].split(","):
    app, make, expected = ROUTES[name]
    for number in range(WARM_UP):
        serve(app, make(f"w{number}"), expected)
    requests = [(app, make(number), expected) for number in range(REQUESTS)]
    started = time.process_time()
    # Under callgrind, instructions are counted inside starmap's steps only
    # (one request each), and a profile is dumped as each route's starmap begins.
    for _ in starmap(serve, requests):
        pass
    if CPU_TIME:
        spent = (time.process_time() - started) / REQUESTS * 1e6
        print(f"cost {name} {spent:.1f}", file=sys.stderr, flush=True)
"""


def instructions(profile: Path) -> int:
    """The instructions counted in one callgrind dump."""
    match = re.search(r"^(?:summary|totals): (\d+)", profile.read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"no totals in {profile}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="measured requests per route")
    parser.add_argument("--warm-up", type=int, default=20, help="unmeasured requests first")
    parser.add_argument("--cpu-time", action="store_true", help="CPU µs, without valgrind")
    parser.add_argument("--keep", type=Path, help="keep the callgrind profiles here")
    parser.add_argument("--project", type=Path, help="an already baked project to measure")
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--metrics", choices=("on", "off", "multiprocess"), default="on")
    args = parser.parse_args()
    use_valgrind = not args.cpu_time
    if use_valgrind and shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind), or use --cpu-time")
    routes = args.routes.split(",")

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cost-")))
        project = args.project.resolve() if args.project else bake(tmp / "bake")
        database_url = stack.enter_context(database())
        prefix = stack.enter_context(redis_prefix())
        bare = tmp / "bare"
        bare.mkdir()
        (bare / "bare.py").write_text(textwrap.dedent(BARE_APP))
        metrics = {"off": {"METRICS_ENABLED": "false"}, "on": {}}.get(args.metrics)
        if metrics is None:
            (tmp / "prometheus").mkdir()
            metrics = {"PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus")}
        env = production_env(
            database_url,
            prefix,
            # The cheapest password hashing production allows: signing in is
            # set-up here, not measured.
            PASSWORD_HASH_TIME_COST="2",
            PASSWORD_HASH_MEMORY_KIB="19456",
            BARE_DIR=str(bare),
            REQUESTS=str(args.requests),
            WARM_UP=str(args.warm_up),
            ROUTES=",".join(routes),
            CPU_TIME="0" if use_valgrind else "1",
            **metrics,
        )
        migrate(project, env)
        driver = tmp / "driver.py"
        driver.write_text(DRIVER)
        profiles = args.keep.resolve() if args.keep else tmp / "profiles"
        profiles.mkdir(parents=True, exist_ok=True)
        command = [str(BIN / "python"), str(driver)]
        if use_valgrind:
            command = [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=starmap_next",
                "--dump-before=itertools_starmap",
                f"--callgrind-out-file={profiles}/callgrind.out.%p",
                *command,
            ]
        finished = subprocess.run(
            command,
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if finished.returncode != 0:
            sys.stderr.write(finished.stderr[-4000:])
            raise SystemExit(f"the driver failed ({finished.returncode})")
        if use_valgrind:
            # One dump before each route (the first is empty), and the last
            # route's at exit.
            parts = sorted(
                profiles.glob("callgrind.out.*.*"), key=lambda path: int(path.suffix[1:])
            )
            (final,) = set(profiles.glob("callgrind.out.*")) - set(parts)
            dumps = [*parts[1:], final]
            if len(dumps) != len(routes):
                raise SystemExit(f"expected {len(routes)} profiles, found {len(dumps)}")
            costs = {
                name: instructions(dump) / args.requests
                for name, dump in zip(routes, dumps, strict=True)
            }
            unit = "instructions"
        else:
            costs = {
                name: float(value)
                for _, name, value in (
                    line.split()
                    for line in finished.stderr.splitlines()
                    if line.startswith("cost ")
                )
            }
            unit = "CPU µs"

    print(f"Python {sys.version.split()[0]}; {args.requests} requests per route, {unit} each")
    print("(the WSGI app called directly, no server; lower is better)\n")
    print(f"| {'route':<16} | {unit + ' / request':>24} | x bare |")
    print(f"| {'-' * 16} | {'-' * 23}: | -----: |")
    bare_cost = costs.get("bare")
    for name, cost in costs.items():
        ratio = f"{cost / bare_cost:6.1f}" if bare_cost else "     -"
        figure = f"{cost:,.0f}" if use_valgrind else f"{cost:,.1f}"
        print(f"| {name:<16} | {figure:>24} | {ratio} |")


if __name__ == "__main__":
    main()
