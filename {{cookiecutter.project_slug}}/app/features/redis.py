"""Redis: the shared store of the cache and the rate limits, and the job queue."""

from __future__ import annotations

from flask import Flask

from app.api.v1 import jobs as jobs_api
from app.core import jobs, redis


def init_app(app: Flask) -> None:
    """Connect to ``REDIS_URL``; before the cache and the rate limiter, which use it."""
    redis.init_app(app)
    jobs.init_app(app)
    app.register_blueprint(jobs_api.bp)
