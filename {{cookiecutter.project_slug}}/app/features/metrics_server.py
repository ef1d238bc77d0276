"""Gunicorn hooks of the metrics module (``gunicorn.conf.py`` calls them): in
the server's master process, but for ``worker_exit``, which runs in the worker.

The worker processes share their values through files in one folder,
``PROMETHEUS_MULTIPROC_DIR`` (see ``app/core/metrics.py``). Before the workers
start, the folder is made, or emptied of a previous run's files: values of
processes that no longer exist would otherwise be added to this run's. As a
worker exits, it writes what it counted since its last flush; once it has
exited, its live gauges (requests in flight) stop counting.

The standard library only, and prometheus-client only once the folder is set:
the master imports nothing of the app, and the workers import the library
after the variable is set, so that it starts in multiprocess mode.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: The folder this server made for itself at start, to remove at exit.
_own_folder: Path | None = None


def on_starting(server: Any) -> None:
    """Use ``PROMETHEUS_MULTIPROC_DIR``, emptied of earlier values, or else a new
    temporary folder, before any worker starts."""
    global _own_folder
    configured = os.environ.get(MULTIPROC_DIR)
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="prometheus-"))
        os.environ[MULTIPROC_DIR] = str(folder)
        _own_folder = folder
    server.log.info("Metrics of the workers are shared in %s", folder)


def worker_exit(server: Any, worker: Any) -> None:
    """In the worker, as it stops: write the requests it counted since its last
    flush, which the files would otherwise never see."""
    extensions = getattr(worker.wsgi, "extensions", {})  # the app, if it loaded
    metrics = extensions.get("metrics")
    if metrics is not None:
        metrics.flush()


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: what it has counted stays, its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    global _own_folder
    if _own_folder is not None:
        shutil.rmtree(_own_folder, ignore_errors=True)
        _own_folder = None
