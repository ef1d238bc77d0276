"""The template's commands, runnable with nothing but Python 3.11+ and git.

    python3 tasks.py demo           generate the default project and serve it on 127.0.0.1:5000
    python3 tasks.py test           run the template's test suite (extra args go to pytest)
    python3 tasks.py test --full    the same, with every combination's full suite (nightly)
    python3 tasks.py bench          print the benchmark figures (bake, time to green, AI under load)

The first run creates ``.venv`` (with ``python -m venv``), installs uv into it,
and lets uv install the locked development tools from ``uv.lock``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
DEMO_DIR = ROOT / "build" / "demo"


def run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(arg) for arg in args), flush=True)
    subprocess.run([str(arg) for arg in args], cwd=cwd, env=env, check=True)


def uv() -> Path:
    """The uv of ``.venv``, installing both on first use, with the dev tools synced."""
    if not (BIN / "uv").exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
        run(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv")
    run(BIN / "uv", "sync", "--frozen", "--quiet")
    return BIN / "uv"


def demo() -> None:
    uv_bin = uv()
    run(BIN / "cookiecutter", "--no-input", "--overwrite-if-exists", "-o", DEMO_DIR, ROOT)
    (project,) = [path for path in DEMO_DIR.iterdir() if (path / "pyproject.toml").exists()]
    # The generated project gets its own environment, as its owner would make it.
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    run(uv_bin, "sync", "--quiet", cwd=project, env=env)
    run(uv_bin, "run", "flask", "--app", "app", "db", "upgrade", cwd=project, env=env)
    print(f"\nServing {project} on http://127.0.0.1:5000 (docs: /api/v1/docs). Ctrl-C stops.\n")
    os.chdir(project)
    os.execve(str(uv_bin), [str(uv_bin), "run", "flask", "--app", "app", "run"], env)


def test(pytest_args: list[str]) -> None:
    uv()
    run(BIN / "python", "-m", "pytest", *pytest_args)


#: The benchmark scripts, in the order ``bench`` runs them.
BENCHMARKS = ("run.py", "auth.py", "cache_and_limits.py", "ai.py")


def bench() -> None:
    uv()
    for script in BENCHMARKS:
        run(BIN / "python", ROOT / "bench" / script)


def main() -> int:
    command, *rest = sys.argv[1:] or ["help"]
    if command == "demo":
        demo()
    elif command == "test":
        test(rest)
    elif command == "bench":
        bench()
    elif command == "clean":
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    else:
        print(__doc__)
        return 0 if command in {"help", "-h", "--help"} else 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
