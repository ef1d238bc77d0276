"""Background jobs on RQ: the app's queue, and ``flask worker`` that runs them.

::

    flask --app app worker            run jobs until SIGTERM, which lets the current job finish
    flask --app app worker --burst    run the jobs queued now, then exit
    flask --app app worker-status     exit 0 if a worker on this host serves the queue

Jobs are stored as JSON: RQ's default, pickle, would let anyone who can write
to Redis run code in the worker. So a job's arguments and result must be JSON
values. RQ runs a job at least once, not exactly once: after a retry, or when a
worker died mid-job, it runs again, so every job must be safe to repeat.

The worker runs in the app context and forks a child for each job, so a job
that crashes or leaks memory cannot take the worker down. A job that fails is
kept in the queue's failed registry with its traceback, or retried if it was
enqueued with a ``Retry``; a job whose worker was killed is found by the next
worker's maintenance pass (once its heartbeat lapses) and retried or failed.
"""

from __future__ import annotations

import socket

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from redis import Redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from app.core.config import Settings
from app.core.exceptions import ServiceUnavailableError


def queue_name(settings: Settings) -> str:
    """The app's queue, named after ``REDIS_KEY_PREFIX`` like the rest of its keys."""
    return f"{settings.REDIS_KEY_PREFIX}:default"


def get_queue() -> Queue:
    """The current app's queue.

    :raises ServiceUnavailableError: ``REDIS_URL`` is not set.
    """
    queue: Queue | None = current_app.extensions.get("job_queue")
    if queue is None:
        raise ServiceUnavailableError(
            "Background jobs are unavailable: the server has no Redis (REDIS_URL).",
            code="JOBS_UNAVAILABLE",
        )
    return queue


def worker_queue() -> Queue:
    """The app's queue on a connection of the worker's own: RQ raises its read
    timeout for its blocking waits, which must not leak into the app's client."""
    settings: Settings = current_app.extensions["settings"]
    if not settings.REDIS_URL:
        raise click.UsageError("REDIS_URL is not set: the worker takes its jobs from Redis.")
    connection = Redis.from_url(settings.REDIS_URL, socket_connect_timeout=settings.REDIS_TIMEOUT)
    return Queue(queue_name(settings), connection=connection, serializer=JSONSerializer)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the jobs queued now, then exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run background jobs (SIGTERM: finish the current job, then exit)."""
    settings: Settings = current_app.extensions["settings"]
    queue = worker_queue()
    worker = Worker([queue], connection=queue.connection, serializer=JSONSerializer)
    # The scheduler puts retries that wait (``Retry(interval=...)``) back on the queue.
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.LOG_LEVEL)


@click.command("worker-status")
@with_appcontext
def worker_status_command() -> None:
    """Exit 0 if a worker on this host serves the queue: a container's health check."""
    queue = worker_queue()
    host = socket.gethostname()
    workers = Worker.all(queue=queue, serializer=JSONSerializer)
    if not any(worker.hostname == host for worker in workers):
        raise click.ClickException(f"no worker on {host} serves the queue {queue.name!r}")
    click.echo(f"a worker on {host} serves the queue {queue.name!r}")


def init_app(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(worker_status_command)
    client: Redis | None = app.extensions.get("redis")
    if client is None:
        return
    settings: Settings = app.extensions["settings"]
    app.extensions["job_queue"] = Queue(
        queue_name(settings),
        connection=client,
        serializer=JSONSerializer,
        default_timeout=settings.JOB_TIMEOUT,
    )
