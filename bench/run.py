"""Benchmarks of the template: prints figures, asserts nothing.

    python3 tasks.py bench            (or: .venv/bin/python bench/run.py [--runs N])

- bake time of the default project and of the minimal one (no database, auth,
  Redis or AI), against the start-up of ``cookiecutter --version``, each sample
  of one taken next to a sample of the other (the ratio is what to compare
  between machines; budget: 2.0);
- time to green of the default project: bake, ``uv sync`` from a warm uv cache,
  and its own test suite as its README runs it (budget: 40 s), and the CPU time
  of those processes, which a shared machine disturbs less;
- the wall time of the template's own test suite, ``python3 tasks.py test``, the
  command CI runs (budget: 10 minutes; ``--no-suite`` skips it).

Every figure is the median of several runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COOKIECUTTER = BIN / "cookiecutter"
UV = BIN / "uv"


def clean_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "DATABASE_", "REDIS_", "PYTEST_"))
    }


def run(*args: str | Path, cwd: Path | None = None) -> None:
    subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=clean_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def children_cpu_seconds() -> float:
    """CPU time (user + system) of the child processes that have ended and been
    waited for, theirs included: on a shared machine, less noisy than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_seconds(runs: int, action: Callable[[], None]) -> tuple[float, float]:
    """The median wall time of ``action``, and the median CPU time of its processes."""
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), children_cpu_seconds()
        action()
        walls.append(time.perf_counter() - started)
        cpus.append(children_cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def bake(output: Path, *answers: str) -> Path:
    shutil.rmtree(output, ignore_errors=True)
    run(COOKIECUTTER, "--no-input", "-o", output, TEMPLATE, *answers)
    (project,) = output.iterdir()
    return project


MINIMAL = ("database=none", "use_auth=no", "use_redis=no", "ai_provider=none")
BAKE_BUDGET = 2.0
GREEN_BUDGET = 40.0
SUITE_BUDGET = 600.0


def time_to_green(work: Path, *answers: str) -> None:
    project = bake(work / "green", *answers)
    run(UV, "sync", "--locked", "--quiet", "--python", sys.executable, cwd=project)
    run(project / ".venv" / "bin" / "python", "-m", "pytest", "-q", cwd=project)


def interleaved_medians(runs: int, actions: list[Callable[[], None]]) -> list[float]:
    """The median time of each action, the actions taking turns (so a slow moment
    of a shared machine costs all of them alike)."""
    samples: list[list[float]] = [[] for _ in actions]
    for _ in range(runs):
        for action, taken in zip(actions, samples, strict=True):
            started = time.perf_counter()
            action()
            taken.append(time.perf_counter() - started)
    return [statistics.median(taken) for taken in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument(
        "--suite",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the template's test suite once (several minutes)",
    )
    arguments = parser.parse_args()
    runs = arguments.runs

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        startup, default, minimal = interleaved_medians(
            runs,
            [
                lambda: run(COOKIECUTTER, "--version"),
                lambda: bake(work / "out"),
                lambda: bake(work / "out", *MINIMAL),
            ],
        )
        # Warm uv's cache once, so the figure is what a developer sees day to day.
        time_to_green(work)
        green, green_cpu = median_seconds(max(3, runs // 2), lambda: time_to_green(work))

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {runs} runs\n")
    print(f"{'what':<34}{'seconds':>9}{'x startup':>11}")
    print(f"{'cookiecutter --version':<34}{startup:>9.3f}{1:>11.2f}")
    print(f"{'bake default':<34}{default:>9.3f}{default / startup:>11.2f}")
    print(f"{'bake minimal':<34}{minimal:>9.3f}{minimal / startup:>11.2f}")
    print(f"(budget: {BAKE_BUDGET:.1f} x startup)\n")
    print(f"{'time to green, default':<34}{green:>9.2f}   (budget: {GREEN_BUDGET:.0f} s)")
    print(f"{'  its CPU time (user + system)':<34}{green_cpu:>9.2f}")
    print("(bake -> uv sync from a warm cache -> the baked test suite passes)")
    if arguments.suite:
        started = time.perf_counter()
        suite = subprocess.run(
            [sys.executable, TEMPLATE / "tasks.py", "test", "-q"],
            cwd=TEMPLATE,
            env={**os.environ, "CI": "true"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        taken = time.perf_counter() - started
        outcome = "passed" if suite.returncode == 0 else f"FAILED (exit {suite.returncode})"
        label = "template suite (tasks.py test)"
        print(f"\n{label:<34}{taken:>9.0f}   (budget: {SUITE_BUDGET:.0f} s)")
        print(f"(the command CI runs, with CI=true: {outcome})")


if __name__ == "__main__":
    main()
