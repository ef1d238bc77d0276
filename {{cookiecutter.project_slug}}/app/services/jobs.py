"""Background jobs: enqueue them and report on them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.results import Result

from app.core.exceptions import NotFoundError
from app.core.jobs import recover_abandoned
from app.schemas.job import JobPublic

#: Seconds (a week) a failed job stays in the failed registry for someone to look at.
FAILURE_TTL = 7 * 24 * 3600
#: How RQ records failures that are not exceptions of the job, and the error
#: name the API gives each.
_RQ_FAILURES = {
    "AbandonedJobError": "WorkerDied",
    "Work-horse terminated unexpectedly": "JobProcessKilled",
    "Job stopped by user": "JobStopped",
}
#: The last line of a traceback: ``package.module.ErrorName: message`` (or no message).
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*)(?::|$)")


def enqueue(
    queue: Queue,
    func: Callable[..., Any],
    *,
    result_ttl: int,
    owner: str = "",
    retry: Retry | None = None,
    kwargs: dict[str, Any] | None = None,
    timeout: int | None = None,
) -> JobPublic:
    """Put ``func(**kwargs)`` on ``queue``; retried as ``retry`` says if it fails.

    :param result_ttl: Seconds the result stays readable after the job finished.
    :param owner: Who queued it (a caller key); only they may read it, see :func:`get_job`.
    :param timeout: Seconds the job may run (default: ``JOB_TIMEOUT``).
    """
    job = queue.enqueue_call(
        func,
        kwargs=kwargs,
        timeout=timeout,
        result_ttl=result_ttl,
        failure_ttl=FAILURE_TTL,
        retry=retry,
        meta={"owner": owner},
    )
    return describe(job)


def get_job(queue: Queue, *, job_id: str, viewer: str = "", sees_all: bool = False) -> JobPublic:
    """The job ``job_id`` of ``queue`` if ``viewer`` may see it, or ``NotFoundError``.

    Every read of a job goes through here. A job is visible to the caller who
    queued it (``viewer`` is their key) and to callers who ``sees_all``; to
    anyone else it does not exist.
    """
    job = _fetch(queue, job_id)
    # Job ids are global in Redis: a job of another queue (another app) is not ours.
    if job is None or job.origin != queue.name or not (sees_all or job.meta.get("owner") == viewer):
        raise NotFoundError(f"Job {job_id} does not exist.", code="JOB_NOT_FOUND")
    if job.get_status(refresh=False) == JobStatus.STARTED:
        # If its worker died, say so now (queued again, or failed), not "started".
        recover_abandoned(queue)
        job = _fetch(queue, job_id) or job
    return describe(job)


def _fetch(queue: Queue, job_id: str) -> Job | None:
    found: Job | None = Job.fetch_many(
        [job_id], connection=queue.connection, serializer=queue.serializer
    )[0]
    return found


def describe(job: Job) -> JobPublic:
    """What a client may know about ``job``: never the traceback, only the error type."""
    status = job.get_status(refresh=False)
    result, error = None, None
    latest = job.latest_result()
    if latest is not None and latest.type == Result.Type.SUCCESSFUL:
        result = latest.return_value
    elif latest is not None and latest.exc_string:
        error = error_name(latest.exc_string)
    return JobPublic(
        id=job.id,
        name=(job.func_name or "").rpartition(".")[2],
        status=status.value if status else "queued",
        result=result,
        error=error,
        retries_left=job.retries_left,
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        ended_at=job.ended_at,
    )


def error_name(traceback: str) -> str:
    """The error's name: ``"...\nmod.ValueError: bad input"`` -> ``"ValueError"``;
    a failure RQ recorded itself (a dead worker, say) -> its name in ``_RQ_FAILURES``."""
    if not traceback.startswith("Traceback"):
        for marker, name in _RQ_FAILURES.items():
            if marker in traceback:
                return name
    lines = traceback.strip().splitlines()
    found = _EXCEPTION_LINE.match(lines[-1].strip()) if lines else None
    return found.group(1) if found else "Error"
