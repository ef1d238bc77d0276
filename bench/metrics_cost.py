"""The server CPU that metrics cost per request: prints figures, asserts nothing.

    .venv/bin/python bench/metrics_cost.py [--rounds 15] [--seconds 2] [--project DIR ...]

Bakes the default project (or takes each ``--project``: two versions of the
template, say) and serves it twice in the production profile with its own
``gunicorn.conf.py`` (gevent workers, multiprocess metrics): metrics on, and
``METRICS_ENABLED=false``. wrk (one thread, 16 connections) then takes turns
on ``GET /api/v1/health`` of each server, the cheapest route and so the worst
case in proportion, in an order that alternates from round to round. Each
run's figure is the CPU time (user + system) the worker processes spent, read
from ``/proc``, divided by the requests wrk completed. Printed: the medians,
and the median of the rounds' ratios of metrics on to off. CPU time moves less
with the machine's load than requests per second do, but still moves: compare
the figures of one run.

PostgreSQL and Redis as in ``bench/api.py`` (a database and a key prefix of
its own, removed at the end). Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
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
from load import bake, gunicorn

HEALTH = "/api/v1/health"
TICKS = os.sysconf("SC_CLK_TCK")
OFF = {"METRICS_ENABLED": "false"}


def workers_cpu_seconds(pid_file: Path) -> float:
    """CPU seconds (user + system) of the worker processes of the gunicorn whose
    master's pid is in ``pid_file``."""
    master = pid_file.read_text().strip()
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--project", type=Path, action="append", help="an already baked project (repeatable)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(WRK_MISSING)

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-metrics-")))
        projects = [path.resolve() for path in args.project or [bake(tmp / "bake")]]
        env = production_env(stack.enter_context(database()), stack.enter_context(redis_prefix()))
        migrate(projects[0], env)
        script = tmp / "count.lua"
        script.write_text(WRK_SCRIPT)
        servers = {}
        for project in projects:
            for setting, overrides in [("on", {}), ("off", OFF)]:
                pid_file = tmp / f"{len(servers)}.pid"
                served = gunicorn(project, {**env, **overrides}, "--pid", str(pid_file))
                servers[(project, setting)] = (stack.enter_context(served), pid_file)
        spent: dict[tuple[Path, str], list[float]] = {name: [] for name in servers}
        for round_number in range(args.rounds + 1):  # the first one warms up
            order = list(servers) if round_number % 2 else list(reversed(servers))
            for name in order:
                port, pid_file = servers[name]
                before = workers_cpu_seconds(pid_file)
                result = wrk(
                    Target(str(name), port, HEALTH),
                    seconds=args.seconds,
                    connections=args.connections,
                    threads=1,
                    script=script,
                )
                cpu = workers_cpu_seconds(pid_file) - before
                if result["failed"] or result["socket_errors"]:
                    raise SystemExit(f"{name}: responses other than 2xx, or errors: {result}")
                if round_number:
                    spent[name].append(cpu / result["requests"] * 1e6)

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, gunicorn.conf.py as shipped;")
    print(f"wrk -t1 -c{args.connections} -d{args.seconds:g}s on {HEALTH}, {args.rounds} rounds\n")
    for project in projects:
        on, off = spent[(project, "on")], spent[(project, "off")]
        # The runs of a round are close in time: their ratio moves less with the
        # machine's load than either figure.
        ratio = statistics.median(a / b for a, b in zip(on, off, strict=True))
        print(f"{project}: metrics on / off {ratio:.3f} (median of the rounds' ratios)")
        for setting, samples in [("on", on), ("off", off)]:
            rounds = " ".join(f"{sample:.0f}" for sample in samples)
            median = statistics.median(samples)
            print(f"  metrics {setting:<3} {median:6.1f} µs CPU / request; rounds: {rounds}")


if __name__ == "__main__":
    main()
