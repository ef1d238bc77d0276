"""Benchmarks of the template: prints figures, asserts nothing.

    python3 tasks.py bench            (or: .venv/bin/python bench/run.py [--runs N])

- bake time of the default project and of ``database=none use_auth=no``, against the start-up
  of ``cookiecutter --version`` measured in the same run (the ratio is what to
  compare between machines);
- time to green: bake, install into a fresh environment from a warm uv cache,
  and run the baked project's own test suite.

Every figure is the median of several runs.
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


def median_seconds(runs: int, action: Callable[[], None]) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bake(output: Path, *answers: str) -> Path:
    shutil.rmtree(output, ignore_errors=True)
    run(COOKIECUTTER, "--no-input", "-o", output, TEMPLATE, *answers)
    (project,) = output.iterdir()
    return project


def time_to_green(work: Path, *answers: str) -> None:
    project = bake(work / "green", *answers)
    run(UV, "sync", "--locked", "--quiet", "--python", sys.executable, cwd=project)
    run(
        project / ".venv" / "bin" / "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        cwd=project,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    runs = parser.parse_args().runs

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        startup = median_seconds(runs, lambda: run(COOKIECUTTER, "--version"))
        rows = [("cookiecutter --version", startup, 1.0)]
        minimal = ("database=none", "use_auth=no")
        for label, answers in (("bake default", ()), ("bake database=none", minimal)):
            seconds = median_seconds(runs, lambda answers=answers: bake(work / "out", *answers))
            rows.append((label, seconds, seconds / startup))

        # Warm uv's cache once, so the figure is what a developer sees day to day.
        time_to_green(work)
        green = median_seconds(max(3, runs // 2), lambda: time_to_green(work))
        green_none = median_seconds(max(3, runs // 2), lambda: time_to_green(work, *minimal))

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {runs} runs\n")
    print(f"{'what':<34}{'seconds':>9}{'x startup':>11}")
    for label, seconds, ratio in rows:
        print(f"{label:<34}{seconds:>9.3f}{ratio:>11.2f}")
    print()
    print(f"{'time to green, default':<34}{green:>9.2f}")
    print(f"{'time to green, database=none':<34}{green_none:>9.2f}")
    print("(bake -> uv sync from a warm cache -> the baked test suite passes)")


if __name__ == "__main__":
    main()
