"""The AI API: text or structured generation, in one piece or streamed."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from json import dumps
from typing import Any, cast

from flask import Blueprint, Flask, Response, stream_with_context
from flask.blueprints import BlueprintSetupState

from app.core.ai import get_ai
from app.core.ai.base import StreamEnd, StreamEvent, TextDelta, close_stream
from app.core.cache import get_cache
from app.core.cache.responses import CACHE_HEADER
{%- if cookiecutter.use_auth %}
from app.core.caller import current_caller
{%- endif %}
from app.core.config import get_settings
from app.core.exceptions import APIError
from app.core.logs import get_request_id
from app.core.openapi import add_document_hook, operations, schema_name, validate
from app.core.rate_limit import rate_limit
from app.core.responses import success
from app.schemas.ai import GenerateLaterRequest, GenerateRequest, GenerateResult, TokenUsage
from app.services import ai as service

bp = Blueprint("ai", __name__, url_prefix="/api/v1/ai")
logger = logging.getLogger(__name__)
#: The request bodies whose limits come from the settings (see _document_limits).
_LIMITED_BODIES = (schema_name(GenerateRequest), schema_name(GenerateLaterRequest))


def _event_schema(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": name},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"type": "object", "required": list(data), "properties": data},
            },
        },
    }


_TEXT = {"type": "string"}
#: One server-sent event of a streamed answer, as the OpenAPI document gives it.
EVENT = {
    "oneOf": [
        _event_schema("delta", {"text": _TEXT}),
        _event_schema(
            "done",
            {
                "model": _TEXT,
                "provider": _TEXT,
                "finish_reason": _TEXT,
                "usage": {"$ref": f"#/components/schemas/{schema_name(TokenUsage)}"},
            },
        ),
        _event_schema("error", {"code": _TEXT, "message": _TEXT, "request_id": _TEXT}),
    ]
}

#: The AI endpoints draw on one quota per caller.
QUOTA_SCOPE = "ai"


def quota() -> str:
    """The current caller's AI quota, from the settings (empty: none)."""
    settings = get_settings()
{%- if cookiecutter.use_auth %}
    caller = current_caller()
    if caller is not None and caller.privileged:
        return settings.AI_RATE_LIMIT_ADMIN
{%- endif %}
    return settings.AI_RATE_LIMIT


@bp.post("/generate")
@rate_limit(quota, scope=QUOTA_SCOPE)
@validate(data=GenerateResult, errors=[502, 503, 504], tags=["ai"])
def generate(json: GenerateRequest) -> Response:
    """Generate a reply with the configured AI provider.

    With `"stream": true` the answer is `text/event-stream`: a `delta` event per
    piece of text (`{"text": ...}`), then `done` with the model, finish reason
    and usage, or `error` (`{"code", "message", "request_id"}`) if the provider
    fails once the stream has started. Failures before the first event answer
    with the error envelope and its status, as without streaming.

    When the server keeps replies (`AI_CACHE_TTL`), a request with
    `"temperature": 0` may get the reply given to the same request before;
    `X-Cache: HIT` says it did.
    """
    client = get_ai()
    if not json.stream:
        result, warnings, cache_status = service.generate_reusing(
            client, get_cache(), request=json, ttl=get_settings().AI_CACHE_TTL
        )
        response = success(result, warnings=warnings)
        if cache_status is not None:
            response.headers[CACHE_HEADER] = cache_status
        return response
    events = service.stream(client, request=json)
    first = next(events)  # opens the upstream stream; errors here get a status code
    body = _server_sent_events(first, events, client.provider.name)
    return Response(
        stream_with_context(body),
        mimetype="text/event-stream",
        # Proxies such as nginx would otherwise buffer the events.
        headers={"X-Accel-Buffering": "no"},
    )


def _document_limits(document: dict[str, Any], app: Flask) -> None:
    """Say in the document what this server's settings allow: which models, how
    many tokens, and that a streamed answer is a text/event-stream."""
    client = app.extensions["ai"]
    schemas = document["components"]["schemas"]
    for name in _LIMITED_BODIES:
        properties = schemas.get(name, {}).get("properties", {})
        if "model" in properties:
            properties["model"]["anyOf"] = [{"enum": client.allowed_models}, {"type": "null"}]
        if "max_tokens" in properties:
            limit = {"type": "integer", "minimum": 1, "maximum": client.settings.AI_MAX_TOKENS}
            properties["max_tokens"]["anyOf"] = [limit, {"type": "null"}]
    for rule, _view, operation in operations(document, app):
        if rule.endpoint == "ai.generate":
            operation["responses"]["200"]["content"]["text/event-stream"] = {"schema": EVENT}


@bp.record_once
def _on_register(state: BlueprintSetupState) -> None:
    add_document_hook(cast(Flask, state.app), _document_limits)


def _server_sent_events(
    first: StreamEvent, events: Iterator[StreamEvent], provider: str
) -> Iterator[str]:
    try:
        for event in itertools.chain((first,), events):
            if isinstance(event, TextDelta):
                yield _event("delta", {"text": event.text})
            elif isinstance(event, StreamEnd):
                usage = event.usage
                yield _event(
                    "done",
                    {
                        "model": event.model,
                        "provider": provider,
                        "finish_reason": event.finish_reason,
                        "usage": {
                            "prompt_tokens": usage.prompt_tokens,
                            "completion_tokens": usage.completion_tokens,
                            "total_tokens": usage.total_tokens,
                        },
                    },
                )
    except APIError as exc:
        yield _event(
            "error", {"code": exc.code, "message": exc.message, "request_id": get_request_id()}
        )
    except Exception:
        # The status line is sent: an event is all the client can still get.
        logger.exception("Stream failed")
        yield _event(
            "error",
            {
                "code": "INTERNAL_ERROR",
                "message": "An unexpected error occurred.",
                "request_id": get_request_id(),
            },
        )
    finally:
        # Also when the client went away: ends the upstream call and frees its slot.
        close_stream(events)


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {dumps(data)}\n\n"
