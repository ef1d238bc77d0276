"""A fork server ("zygote") for the cheap tier's smoke check.

Most of a smoke run's CPU is importing the same third-party packages for every
combination. The zygote imports them once, in a Python started like
``python_in`` starts one (this interpreter, no flags, the project environment),
then forks a fresh child for each script it is asked to run: the child takes
the project's directory, environment, ``sys.argv`` and ``sys.path[0]`` as
``python script`` would have them, writes its output to the caller's files, and
ends like that interpreter would (its exit code, or 1 with the traceback). The
project's own modules are imported only in the child, so nothing of one project
is left for the next.

What is preloaded is in this environment anyway (every dependency of every
feature): it hides nothing that a fresh Python here would not see. Whether a
project's own environment has what it needs is tested with that environment's
Python (``tests/test_generated.py``).

Protocol, one JSON line each way: the zygote says ``{"cpu": ...}`` once ready,
then answers each request ``{"script", "cwd", "env", "stdout", "stderr",
"timeout"}`` with ``{"returncode": ..., "cpu": ...}``, ``cpu`` being its CPU
seconds so far, its own and its children's.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

#: What the smoke check of the project with every feature imports that takes
#: time, submodules imported only on use included: third-party packages, never
#: the project's own modules.
PRELOAD = (
    "alembic.autogenerate",
    "alembic.command",
    "anthropic",
    "argon2",
    "click.testing",
    "email_validator",
    "encodings.idna",
    "flask",
    "flask.testing",
    "flask_alembic",
    "flask_alembic.cli",
    "flask_cors",
    "flask_sqlalchemy_lite",
    "flask_swagger_ui",
    "httpx2",
    "jsonschema",
    "jwt",
    "limits",
    "openai",
    "prometheus_client",
    "pydantic",
    "pydantic_settings",
    "redis",
    "rq",
    "spectree",
    "sqlalchemy",
    "sqlalchemy.dialects.sqlite",
    "sqlite3",
    "sqlmodel",
    "werkzeug.test",
)


def process_cpu_seconds() -> float:
    """This process's CPU seconds, its own and its waited-for children's."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def become(request: dict[str, Any]) -> None:
    """In the child: take the place of ``python script`` run in ``cwd`` with ``env``."""
    signal.alarm(request["timeout"])  # SIGALRM ends the child, as subprocess's timeout would
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # not the zygote's requests
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    script = request["script"]
    sys.argv = [script]
    sys.path[0] = str(Path(script).parent)


def serve() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    # A fork is only safe with one thread; and fewer pages get copied when the
    # collector leaves the preloaded objects alone.
    assert threading.active_count() == 1, threading.enumerate()
    gc.freeze()
    say({"cpu": process_cpu_seconds()})
    for line in sys.stdin:
        request = json.loads(line)
        if os.fork() == 0:
            become(request)
            # An exception, SystemExit included, leaves the child as it would leave
            # ``python script``: the interpreter's exit, atexit and all.
            runpy.run_path(request["script"], run_name="__main__")
            sys.exit(0)
        _, status = os.wait()
        say({"returncode": os.waitstatus_to_exitcode(status), "cpu": process_cpu_seconds()})


class Zygote:
    """The client: a zygote started with ``env`` (that of the scripts it will run),
    its own errors (a failed start) written to ``errors``."""

    #: CPU seconds of this process's zygote so far, its own and its children's:
    #: they are not among this process's children until the zygote ends.
    cpu: ClassVar[float] = 0.0

    def __init__(self, env: dict[str, str], errors: BinaryIO) -> None:
        self.errors = errors
        self.process = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            env=env,
            text=True,
        )
        self.receive()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.communicate()
            self.errors.seek(0)
            problem = self.errors.read().decode(errors="replace")
            raise RuntimeError(f"the zygote ended ({self.process.returncode}):\n{problem}")
        message: dict[str, Any] = json.loads(line)
        Zygote.cpu = message["cpu"]
        return message

    def run(
        self, project: Path, script: Path, env: dict[str, str], timeout: int = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script`` in ``project`` as ``python_in(project, script)`` would."""
        args = [sys.executable, str(script)]
        assert self.process.stdin is not None
        with tempfile.TemporaryDirectory() as scratch:
            out, err = Path(scratch, "stdout"), Path(scratch, "stderr")
            request: dict[str, Any] = {"script": str(script), "cwd": str(project), "env": env}
            request |= {"stdout": str(out), "stderr": str(err), "timeout": timeout}
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            returncode = self.receive()["returncode"]
            stdout, stderr = out.read_text(), err.read_text()
        if returncode == -signal.SIGALRM:
            raise subprocess.TimeoutExpired(args, timeout, stdout, stderr)
        return subprocess.CompletedProcess(args, returncode, stdout, stderr)

    def close(self) -> None:
        self.process.communicate()  # no more requests: it ends
        Zygote.cpu = 0.0  # now among this process's children


if __name__ == "__main__":
    serve()
