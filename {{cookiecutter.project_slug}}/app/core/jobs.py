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
enqueued with a ``Retry``.

A worker that dies (SIGKILL, a lost machine) cannot report its job. While a job
runs, its worker renews a heartbeat every ``JOB_HEARTBEAT_INTERVAL`` seconds,
valid for two intervals; once it lapses, the job is abandoned, and it is put
back on the queue (on top of its own retries, :data:`ABANDONED_RERUNS` times;
then it fails with ``error: "WorkerDied"``) by whichever comes first: the
maintenance pass another worker makes every ``JOB_MAINTENANCE_INTERVAL``
seconds, or a read of the job's status (``GET /api/v1/jobs/<id>``). So with
another worker running, the job runs again within
``2 * JOB_HEARTBEAT_INTERVAL + 2 * JOB_MAINTENANCE_INTERVAL`` seconds (80 by
default), and is never reported as running once its heartbeat has lapsed.
"""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from redis import Redis
from rq import Queue, Worker
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from app.core.config import Settings
from app.core.exceptions import ServiceUnavailableError

#: Times a job whose worker died runs again beyond its own retries (a job
#: without retries, say). A job that kills every worker that runs it fails then.
ABANDONED_RERUNS = 1
#: Seconds an idle worker waits for a job before its loop comes round again
#: is ``worker_ttl`` minus this (RQ's rule).
_RQ_DEQUEUE_MARGIN = 15


def rerun_abandoned(
    job: Job, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | Any
) -> bool:
    """An RQ exception handler: give a job abandoned by a dead worker another run.

    RQ retries an abandoned job only if it has retries left; this grants
    :data:`ABANDONED_RERUNS` more, counted in the job's meta. Other failures are
    left as they are.
    """
    if exc_type is AbandonedJobError and not job.retries_left:
        reruns = int(job.meta.get("abandoned_reruns", 0))
        if reruns < ABANDONED_RERUNS:
            job.meta["abandoned_reruns"] = reruns + 1
            job.save_meta()  # type: ignore[no-untyped-call]
            job.retries_left = 1
    return True  # let the next handler, and RQ's own handling, run


def recover_abandoned(queue: Queue) -> None:
    """Put the jobs of ``queue`` whose worker's heartbeat lapsed back on the queue
    (or fail them), as a worker's maintenance pass would; skipped while a worker
    is doing just that."""
    if not queue.acquire_maintenance_lock():
        return
    try:
        queue.started_job_registry.cleanup(exception_handlers=[rerun_abandoned])
    finally:
        queue.release_maintenance_lock()  # type: ignore[no-untyped-call]


class AppWorker(Worker):
    """RQ's worker, with a heartbeat that lapses two intervals after it stops.

    RQ gives every heartbeat a minute of grace on top of the interval, and
    checks for abandoned jobs every ten minutes: a dead worker's job would sit
    "started" for up to a quarter of an hour.
    """

    def get_heartbeat_ttl(self, job: Job) -> int:
        interval: int = self.job_monitoring_interval
        return 2 * interval


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
    maintenance = settings.JOB_MAINTENANCE_INTERVAL
    worker = AppWorker(
        [queue],
        connection=queue.connection,
        serializer=JSONSerializer,
        exception_handlers=[rerun_abandoned],
        job_monitoring_interval=settings.JOB_HEARTBEAT_INTERVAL,
        maintenance_interval=maintenance,
        # An idle worker wakes every JOB_MAINTENANCE_INTERVAL seconds, so that
        # its maintenance pass runs on time even when no job comes.
        worker_ttl=maintenance + _RQ_DEQUEUE_MARGIN,
    )
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
