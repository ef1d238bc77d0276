"""Gunicorn settings for production: ``gunicorn`` reads this file by default.

Every value can be overridden with an environment variable of the same name in
upper case (``WEB_CONCURRENCY``, ``PORT``), as most platforms expect. Why these
values: the README's Production section, with the measurements behind them.
"""

import functools
import importlib.util
import json
import math
import os
import socket
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from gunicorn import util


def available_cpus() -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup CPU quota
    (a container's ``--cpus``), not the host's count."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = None
    cgroup_v2 = Path("/sys/fs/cgroup/cpu.max")
    cgroup_v1 = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    try:
        if cgroup_v2.exists():
            limit, period = cgroup_v2.read_text().split()
            if limit != "max":
                quota = int(limit) / int(period)
        elif cgroup_v1.exists():
            limit = cgroup_v1.read_text().strip()
            period = (cgroup_v1.parent / "cpu.cfs_period_us").read_text().strip()
            if int(limit) > 0:
                quota = int(limit) / int(period)
    except (OSError, ValueError):
        quota = None
    if quota is not None:
        cpus = min(cpus or 1, math.ceil(quota))
    return max(1, cpus or 1)


wsgi_app = "app:create_app()"
# All interfaces: inside a container the port is what gets published.
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# gevent: each worker process serves every connection it holds in greenlets, so
# a slow client, or a request waiting on the network, costs a little memory and
# no thread. One process per CPU uses the CPUs; never fewer than two, so one
# worker that dies or restarts does not take the instance down with it.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, available_cpus())))
# Only if GUNICORN_WORKER_CLASS=gthread: threads per worker.
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Connections one worker holds at once, slow ones included; beyond them the
# kernel's backlog queues new ones.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# On SIGTERM, finish in-flight requests for up to this many seconds.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# No recycling after N requests: under steady load every worker reaches N at
# about the same time and the instance stops answering while they restart.
# Set GUNICORN_MAX_REQUESTS to recycle anyway (a leak you cannot fix yet); the
# jitter then spreads the restarts over a quarter of that.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 4
# The app logs one JSON line per request itself.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Requests whose line or headers are too long are refused before the app sees them.
limit_request_line = 8190
limit_request_fields = 100


def _error_envelope(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """gunicorn's answer to a request it refuses before the app runs (a request
    line over ``limit_request_line``: 414; headers over the limits: 431; an
    unreadable request: 400), in the API's error envelope instead of an HTML page."""
    code = reason.upper().replace(" ", "_").replace("-", "_")
    body = json.dumps(
        {
            "success": False,
            "message": f"{reason}: the server refused the request before reading it.",
            "error": {"code": code, "details": None},
            "request_id": uuid.uuid4().hex,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


@functools.cache
def server_hook_modules() -> list[ModuleType]:
    """The modules of ``app/features/*_server.py``: a module whose state the workers
    share keeps there the gunicorn hooks it needs in this master process. Each is
    loaded from its file, without the ``app`` package: the master imports nothing
    of the app, so each worker's gevent patches the standard library before it is
    imported."""
    modules = []
    for path in sorted(Path(__file__).resolve().parent.glob("app/features/*_server.py")):
        spec = importlib.util.spec_from_file_location(f"server_hooks.{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def _run_server_hooks(name: str, *args: Any) -> None:
    for module in server_hook_modules():
        hook = getattr(module, name, None)
        if hook is not None:
            hook(*args)


# The server hooks the modules may define (gunicorn's own names); add a line
# here for another one.
def on_starting(server: Any) -> None:
    _run_server_hooks("on_starting", server)


def worker_exit(server: Any, worker: Any) -> None:  # in the worker process
    _run_server_hooks("worker_exit", server, worker)


def child_exit(server: Any, worker: Any) -> None:
    _run_server_hooks("child_exit", server, worker)


def on_exit(server: Any) -> None:
    _run_server_hooks("on_exit", server)


# gunicorn writes these errors with ``util.write_error``; this is the one place
# to change how they look.
util.write_error = _error_envelope
