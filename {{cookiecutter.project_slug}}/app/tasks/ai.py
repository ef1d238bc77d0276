"""AI generation jobs."""

from __future__ import annotations

from typing import Any

from app.core.ai import get_ai
from app.core.cache import get_cache
from app.core.config import get_settings
from app.schemas.ai import GenerateRequest
from app.services import ai as service


def generate_reply(request: dict[str, Any]) -> dict[str, Any]:
    """Answer a generation request (a body of ``POST /api/v1/ai/jobs``).

    Not retried as a job: the AI client already retries what is worth retrying,
    within ``AI_TIMEOUT``, and a second run would pay for the reply again.

    :returns: What ``/api/v1/ai/generate`` answers as ``data``, plus ``warnings``.
    """
    body = GenerateRequest.model_validate(request)
    result, warnings, _cache_status = service.generate_reusing(
        get_ai(), get_cache(), request=body, ttl=get_settings().AI_CACHE_TTL
    )
    return {**result.model_dump(mode="json"), "warnings": warnings}
