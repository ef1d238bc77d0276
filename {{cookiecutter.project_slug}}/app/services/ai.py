"""AI generation: from an API request to a call on the AI client, and back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from pydantic import MISSING

from app.core.ai.base import Completion, Message, StreamEvent
from app.core.ai.client import AIClient, StructuredCompletion
from app.core.ai.structured import SchemaProblem, check_schema
from app.core.cache import CacheManager
from app.core.exceptions import ValidationFailedError
from app.schemas.ai import GenerateRequest, GenerateResult, TokenUsage

#: The cache namespace of reused replies (see :func:`generate_reusing`).
REPLIES_NAMESPACE = "ai-replies"


def messages_of(request: GenerateRequest) -> list[Message]:
    """The conversation a request describes: its messages, or its prompt as one user turn."""
    if request.messages is not MISSING:
        return [Message(m.role, m.content) for m in request.messages]
    assert request.prompt is not MISSING  # the schema requires one of the two
    return [Message("user", request.prompt)]


def generate(client: AIClient, *, request: GenerateRequest) -> tuple[GenerateResult, list[str]]:
    """Answer ``request`` in one piece; return the result and any warnings for the client.

    With a ``response_schema`` the reply is validated against it (and repaired
    once if needed); a schema that is too large or unusable is a 422.
    """
    messages = messages_of(request)
    reply: Completion | StructuredCompletion
    if request.response_schema is None:
        reply = client.generate(
            messages,
            model=request.model,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
        )
        text, data = reply.text, None
    else:
        _check_schema(request.response_schema, max_bytes=client.settings.AI_MAX_SCHEMA_BYTES)
        reply = client.generate_object(
            messages,
            request.response_schema,
            model=request.model,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
        )
        text, data = None, reply.value
    result = GenerateResult(
        text=text,
        data=data,
        model=reply.model,
        provider=client.provider.name,
        finish_reason=reply.finish_reason,
        usage=TokenUsage(
            prompt_tokens=reply.usage.prompt_tokens,
            completion_tokens=reply.usage.completion_tokens,
            total_tokens=reply.usage.total_tokens,
        ),
    )
    return result, list(reply.warnings)


def generate_reusing(
    client: AIClient, cache: CacheManager, *, request: GenerateRequest, ttl: int
) -> tuple[GenerateResult, list[str], str | None]:
    """:func:`generate`, reusing replies to deterministic requests for ``ttl`` seconds.

    A request with ``temperature`` 0 that matches an earlier one (same provider,
    model, token cap, conversation and schema) gets the reply stored for that
    one; the third value says whether it did (``"HIT"``) or not (``"MISS"``).
    Other requests, or a ``ttl`` of 0, always reach the provider (``None``).
    Identical requests that arrive together wait for the first one's reply
    instead of each calling the provider.
    """
    if ttl <= 0 or request.temperature != 0:
        result, warnings = generate(client, request=request)
        return result, warnings, None
    computed: list[bool] = []

    def ask() -> dict[str, Any]:
        computed.append(True)
        result, warnings = generate(client, request=request)
        return {"result": result.model_dump(mode="json"), "warnings": warnings}

    entry = cache.get_or_set(reply_key(client, request), ask, ttl, namespace=REPLIES_NAMESPACE)
    status = "MISS" if computed else "HIT"
    return GenerateResult.model_validate(entry["result"]), entry["warnings"], status


def reply_key(client: AIClient, request: GenerateRequest) -> str:
    """What makes two requests the same request, as a cache key."""
    model, max_tokens = client.resolve(model=request.model, max_tokens=request.max_tokens)
    identity = {
        "provider": client.provider.name,
        "model": model,
        "max_tokens": max_tokens,
        "messages": [[message.role, message.content] for message in messages_of(request)],
        "response_schema": request.response_schema,
    }
    encoded = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def check(client: AIClient, *, request: GenerateRequest) -> None:
    """Raise the validation error (422) that ``request`` would meet, without asking
    the provider: for requests answered later, by a background job."""
    client.resolve(model=request.model, max_tokens=request.max_tokens)
    if request.response_schema is not None:
        _check_schema(request.response_schema, max_bytes=client.settings.AI_MAX_SCHEMA_BYTES)


def stream(client: AIClient, *, request: GenerateRequest) -> Iterator[StreamEvent]:
    """The events of a streamed answer to ``request`` (the upstream call starts on the first)."""
    return client.stream(
        messages_of(request),
        model=request.model,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
    )


def _check_schema(schema: dict[str, Any], *, max_bytes: int) -> None:
    try:
        check_schema(schema, max_bytes=max_bytes)
    except SchemaProblem as exc:
        detail = {"location": "body", "field": "response_schema", "message": str(exc)}
        raise ValidationFailedError(details=[{**detail, "type": exc.kind}]) from exc
