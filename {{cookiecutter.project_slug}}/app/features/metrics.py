"""Prometheus metrics at ``/metrics``: requests, latency, and the signals of the
other modules present (see ``app/core/metrics.py``)."""

from __future__ import annotations

import os

from flask import Flask

from app.core import metrics
from app.core.config import Settings


def init_app(app: Flask) -> None:
    """Measure every request and serve ``/metrics``. The factory attaches this
    right after logging: every request is timed from before the first hook, so
    the requests that later hooks refuse (rate limits, oversized input) count too."""
    settings: Settings = app.extensions["settings"]
    if not settings.METRICS_ENABLED:
        return
    instruments = metrics.Metrics(os.environ.get(metrics.MULTIPROC_DIR))
    app.extensions["metrics"] = instruments
    instruments.at_first_request(_listen_to_cache)
    instruments.add_collector(metrics.QueueDepth(lambda: app.extensions.get("job_queue")))
    instruments.measure(app)
    app.register_blueprint(metrics.bp)


def _listen_to_cache(app: Flask) -> None:
    app.extensions["cache"].on_lookup(app.extensions["metrics"].cache_looked_up)
