"""AI generation as a background job: queue it now, fetch the reply later."""

from __future__ import annotations

import math

from flask import Blueprint, Response, url_for

from app.api.v1.ai import QUOTA_SCOPE, quota
from app.core.ai import get_ai
from app.core.caller import caller_key
from app.core.config import get_settings
from app.core.jobs import get_queue
from app.core.openapi import validate
from app.core.rate_limit import rate_limit
from app.core.responses import success
from app.schemas.ai import GenerateLaterRequest
from app.schemas.job import JobPublic
from app.services import ai as ai_service
from app.services import jobs as jobs_service
from app.tasks.ai import generate_reply

bp = Blueprint("ai_jobs", __name__, url_prefix="/api/v1/ai")

#: Seconds a generation job may run beyond AI_TIMEOUT (the AI client keeps to
#: that budget; this only stops a job that hangs for another reason).
JOB_TIMEOUT_MARGIN = 30


@bp.post("/jobs")
@rate_limit(quota, scope=QUOTA_SCOPE)
@validate(data=JobPublic, status=202, errors=[503], tags=["ai"])
def generate_later(json: GenerateLaterRequest) -> Response:
    """Queue a generation and answer at once (202); the job's result, at the
    URL in `Location`, is what `/api/v1/ai/generate` would have answered, plus
    `warnings`. A failed job names the error type (`AITimeoutError`, say).

    The request is checked now (model, token cap, schema), so a bad one gets its
    422 here, not as a failed job. Jobs do not stream.
    """
    ai_service.check(get_ai(), request=json)
    settings = get_settings()
    job = jobs_service.enqueue(
        get_queue(),
        generate_reply,
        kwargs={"request": json.model_dump(mode="json", exclude_defaults=True)},
        result_ttl=settings.JOB_RESULT_TTL,
        timeout=math.ceil(settings.AI_TIMEOUT) + JOB_TIMEOUT_MARGIN,
        owner=caller_key(),
    )
    location = url_for("jobs.get_job", job_id=job.id)
    return success(job, status=202, headers={"Location": location})
