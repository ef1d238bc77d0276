"""Background jobs: start one, then poll its status until it has a result."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, url_for

from app.core.access import privileged
from app.core.caller import caller_key, current_caller
from app.core.config import get_settings
from app.core.jobs import get_queue
from app.core.openapi import validate
from app.core.rate_limit import rate_limit
from app.core.responses import success
from app.schemas.job import JobPublic
from app.services import jobs as service
from app.tasks.cache import PURGE_RETRY, purge_stale_cache

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs")


@bp.post("/cache-purge")
@privileged
@rate_limit("2/minute")
@validate(data=JobPublic, status=202, errors=[503], tags=["jobs"])
def purge_cache() -> Response:
    """Queue a job that deletes the cache entries no lookup can reach any more
    (administrators only, where the API has users)."""
    job = service.enqueue(
        get_queue(),
        purge_stale_cache,
        result_ttl=get_settings().JOB_RESULT_TTL,
        owner=caller_key(),
        retry=PURGE_RETRY,
    )
    location = url_for("jobs.get_job", job_id=job.id)
    return success(job, status=202, headers={"Location": location})


@bp.get("/<uuid:job_id>")
@validate(data=JobPublic, errors=[404, 503], tags=["jobs"])
def get_job(job_id: uuid.UUID) -> Response:
    """A job's status, and its result once it has finished (yours only)."""
    caller = current_caller()
    job = service.get_job(
        get_queue(),
        job_id=str(job_id),
        viewer=caller_key(),
        sees_all=bool(caller and caller.privileged),
    )
    return success(job)
