"""The server CPU that metrics cost per request: prints figures, asserts nothing.

    .venv/bin/python bench/metrics_cost.py [--rounds 9] [--seconds 3] [--project DIR]

Bakes the default project (or takes ``--project``) and serves it twice in the
production profile with its own ``gunicorn.conf.py`` (gevent workers,
multiprocess metrics): metrics on, and ``METRICS_ENABLED=false``. wrk (one
thread, 16 connections) then takes turns on ``GET /api/v1/health`` of each,
the cheapest route and so the worst case in proportion, alternating which goes
first. Each run's figure is the CPU time (user + system) the worker processes
spent, read from ``/proc``, divided by the requests wrk completed; the medians
and their ratio are printed. CPU time moves less with the machine's load than
requests per second do, but still moves: compare the two columns of one run.

PostgreSQL and Redis as in ``bench/api.py`` (a database and a key prefix of
its own, removed at the end). Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import (
    WRK_MISSING,
    WRK_SCRIPT,
    Target,
    database,
    migrate,
    production_env,
    redis_prefix,
    wrk,
)
from load import bake, call, free_port

BIN = Path(sys.executable).parent
HEALTH = "/api/v1/health"
TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(project: Path, env: dict[str, str]) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The project under its ``gunicorn.conf.py`` on a free port, once health answers."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}"],
        cwd=project,
        env={**env, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                call(port, "GET", HEALTH)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start in {project}") from None
                time.sleep(0.1)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def workers_cpu_seconds(master: int) -> float:
    """CPU seconds (user + system) of the master's child processes, its workers."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--project", type=Path, help="an already baked project to measure")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(WRK_MISSING)

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-metrics-")))
        project = args.project.resolve() if args.project else bake(tmp / "bake")
        env = production_env(stack.enter_context(database()), stack.enter_context(redis_prefix()))
        migrate(project, env)
        script = tmp / "count.lua"
        script.write_text(WRK_SCRIPT)
        servers = {
            "metrics on": stack.enter_context(serve(project, env)),
            "METRICS_ENABLED=false": stack.enter_context(
                serve(project, {**env, "METRICS_ENABLED": "false"})
            ),
        }
        spent: dict[str, list[float]] = {name: [] for name in servers}
        for round_number in range(args.rounds + 1):  # the first one warms up
            order = list(servers) if round_number % 2 else list(reversed(servers))
            for name in order:
                port, process = servers[name]
                before = workers_cpu_seconds(process.pid)
                result = wrk(
                    Target(name, port, HEALTH),
                    seconds=args.seconds,
                    connections=args.connections,
                    threads=1,
                    script=script,
                )
                cpu = workers_cpu_seconds(process.pid) - before
                if result["failed"] or result["socket_errors"]:
                    raise SystemExit(f"{name}: responses other than 2xx, or errors: {result}")
                if round_number:
                    spent[name].append(cpu / result["requests"] * 1e6)

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, gunicorn.conf.py as shipped;")
    print(f"wrk -t1 -c{args.connections} -d{args.seconds:g}s on {HEALTH}, {args.rounds} rounds\n")
    off = statistics.median(spent["METRICS_ENABLED=false"])
    for name, samples in spent.items():
        median = statistics.median(samples)
        rounds = " ".join(f"{sample:.0f}" for sample in samples)
        print(f"{name:<22} {median:6.1f} µs CPU / request (x {median / off:.3f}): {rounds}")


if __name__ == "__main__":
    main()
