"""The project's own commands as real processes: workers and gunicorn servers.

Each process runs a command exactly as ``python -m flask ...`` or
``python -m gunicorn ...`` would, with an environment of the test's choosing;
what it saves is the start: every process is forked from one server process
that imported the project and its libraries once (multiprocessing's
``forkserver``), so a worker is ready in a fraction of a second instead of two.
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.context
import os
import pkgutil
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from multiprocessing.process import BaseProcess
from pathlib import Path

import app

PROJECT = Path(__file__).resolve().parents[1]
#: Test machinery, which the processes do not need.
NOT_PRELOADED = {"__main__", "__mp_main__", "_pytest", "pytest", "pluggy", "xdist", "execnet"}
NOT_PRELOADED |= {"tests", "conftest"}


@functools.cache
def _forkserver() -> multiprocessing.context.ForkServerContext:
    """The context whose server forks the processes, preloaded with what they would
    otherwise import one by one: every module of the project and of the servers,
    and the libraries the tests have imported so far (those the app uses)."""
    loaded = [name for name in sys.modules if name.split(".")[0] not in NOT_PRELOADED]
    project = [module.name for module in pkgutil.walk_packages(app.__path__, prefix="app.")]
    servers = ["flask.cli", "gunicorn.app.wsgiapp", "gunicorn.workers.gthread"]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(sorted({*loaded, *project, *servers}))
    return context


def _become(command: list[str], env: dict[str, str], log: str) -> None:
    """In the new process: run ``python -m <command>`` with ``env``, output to ``log``."""
    os.setsid()  # a process group of its own, as a supervisor would start it
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(output, sys.stdout.fileno())
    os.dup2(output, sys.stderr.fileno())
    os.environ.clear()
    os.environ.update(env)
    os.chdir(PROJECT)
    sys.argv = command
    runpy.run_module(command[0], run_name="__main__", alter_sys=True)


def start(command: list[str], env: dict[str, str], log: Path) -> BaseProcess:
    """Start ``python -m <command>`` (``["flask", "--app", "app", "worker"]``, say)."""
    process = _forkserver().Process(target=_become, args=(command, env, str(log)), daemon=False)
    process.start()
    return process


def stop(process: BaseProcess, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group of ``process`` and wait for it to end."""
    if process.is_alive() and process.pid:
        with suppress(ProcessLookupError):  # it ended on its own meanwhile
            os.killpg(process.pid, sig)
    process.join(timeout=30)


def run_worker(env: dict[str, str], log: Path, timeout: float = 60) -> str:
    """Run ``flask worker --burst`` to the end; return its output."""
    process = start(["flask", "--app", "app", "worker", "--burst"], env, log)
    process.join(timeout=timeout)
    output = log.read_text()
    if process.exitcode is None:
        stop(process)
    assert process.exitcode == 0, f"the worker exited {process.exitcode}:\n{output}"
    return output


@contextmanager
def gunicorns(env: dict[str, str], logs: list[Path], app_spec: str) -> Iterator[list[str]]:
    """A gunicorn server (one worker) of ``app_spec`` per log file, each on a free
    loopback port; started together, yields their base URLs once each answers
    ``/api/v1/health``."""
    with ExitStack() as stack:
        starting = [stack.enter_context(_gunicorn(env, log, app_spec)) for log in logs]
        # At the end, ask them all to stop before waiting for any.
        stack.callback(_interrupt, [process for _, process, _ in starting])
        for base, process, log in starting:
            _wait_until_ready(base, process, log)
        yield [base for base, _, _ in starting]


def _interrupt(servers: list[subprocess.Popen[bytes]]) -> None:
    # SIGINT: gunicorn's quick shutdown (SIGTERM's graceful one waits on idle
    # keep-alive loops for up to a second).
    for process in servers:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)


@contextmanager
def gunicorn(env: dict[str, str], log: Path, app_spec: str) -> Iterator[str]:
    """One server, as :func:`gunicorns` starts them."""
    with gunicorns(env, [log], app_spec) as (base,):
        yield base


@contextmanager
def _gunicorn(
    env: dict[str, str], log: Path, app_spec: str
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """Start gunicorn, without waiting for it; stop it at the end."""
    with socket.socket() as sock:  # a free port, for gunicorn to bind
        sock.bind(("127.0.0.1", 0))
        bind = f"127.0.0.1:{sock.getsockname()[1]}"
    command = ["gunicorn", "--bind", bind, "--workers", "1", "--graceful-timeout", "5", app_spec]
    # A fresh interpreter, not a fork of the preloaded server: the gevent workers
    # of gunicorn.conf.py must patch the standard library before it is imported.
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - the project's own server
            [sys.executable, "-m", *command],
            cwd=PROJECT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield f"http://{bind}", process, log
    finally:
        _interrupt([process])
        process.wait(timeout=30)


def _wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/v1/health", timeout=5):  # noqa: S310
                return
        except (OSError, urllib.error.URLError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}") from None
            time.sleep(0.02)
