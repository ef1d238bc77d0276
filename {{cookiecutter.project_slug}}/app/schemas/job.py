"""Bodies of the jobs API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

JobStatus = Literal[
    "created",
    "queued",
    "deferred",
    "scheduled",
    "started",
    "finished",
    "failed",
    "stopped",
    "canceled",
]


class JobPublic(BaseModel):
    id: str
    name: str = Field(description="The job function, e.g. 'purge_stale_cache'.")
    status: JobStatus
    result: Any = Field(default=None, description="What the job returned, once finished.")
    error: str | None = Field(default=None, description="The exception type, if it failed.")
    retries_left: int | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
