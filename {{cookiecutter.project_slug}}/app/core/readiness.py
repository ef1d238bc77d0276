"""Readiness checks: each configured dependency registers a probe here.

The ready endpoint runs every probe at once, each bounded by
``HEALTH_CHECK_TIMEOUT``, so one hanging dependency cannot hang the check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Flask, current_app

#: A probe returns normally when its dependency is usable and raises otherwise.
Probe = Callable[[], None]


def init_app(app: Flask) -> None:
    app.extensions["readiness_probes"] = {}


def add_probe(app: Flask, name: str, probe: Probe) -> None:
    """Make the ready endpoint check ``probe`` under ``name``."""
    app.extensions["readiness_probes"][name] = probe


def _timed(probe: Probe) -> float:
    started = time.perf_counter()
    probe()
    return round((time.perf_counter() - started) * 1000, 2)


def run_probes() -> dict[str, dict[str, Any]]:
    """Run every registered probe; map each name to its status and latency or error."""
    probes: dict[str, Probe] = current_app.extensions["readiness_probes"]
    if not probes:
        return {}
    timeout = current_app.extensions["settings"].HEALTH_CHECK_TIMEOUT
    results: dict[str, dict[str, Any]] = {}
    executor = ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="ready")
    futures = {name: executor.submit(_timed, probe) for name, probe in probes.items()}
    deadline = time.monotonic() + timeout
    for name, future in futures.items():
        try:
            latency = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            results[name] = {"status": "down", "error": f"no answer within {timeout} s"}
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            results[name] = {"status": "down", "error": type(exc).__name__}
        else:
            results[name] = {"status": "ok", "latency_ms": latency}
    # Do not wait for a hung probe; its thread ends when its own timeout fires.
    executor.shutdown(wait=False, cancel_futures=True)
    return results
