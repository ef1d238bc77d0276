"""Anthropic through the official SDK (the Messages API)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2

from app.core.ai.base import Completion, GenerationRequest, StreamEnd, StreamEvent, TextDelta, Usage
from app.core.ai.errors import AIContentFilteredError
from app.core.ai.providers._sdk import (
    client_options,
    count,
    finish_reason,
    reading_reply,
    text,
    translated,
)
from app.core.config import Settings

DEFAULT_BASE_URL = "https://api.anthropic.com"
NO_TEMPERATURE = "temperature is not supported by the anthropic provider and was ignored."


class AnthropicProvider:
    """The Messages API on the official ``anthropic`` SDK.

    :param http_client: The ``httpx2.Client`` the SDK sends with; None lets the
        SDK make its own.
    """

    name = "anthropic"
    default_model = "claude-sonnet-4-6"

    def __init__(self, settings: Settings, *, http_client: httpx2.Client | None = None) -> None:
        self._client = anthropic.Anthropic(
            **client_options(
                anthropic, settings, default_base_url=DEFAULT_BASE_URL, http_client=http_client
            )
        )

    def generate(self, request: GenerationRequest) -> Completion:
        with translated(anthropic):
            message = self._client.messages.create(
                **self._arguments(request), timeout=request.timeout
            )
        with reading_reply():
            if message.stop_reason == "refusal":
                raise AIContentFilteredError()
            return Completion(
                text="".join(text(block.text) for block in message.content if block.type == "text"),
                model=text(message.model) or request.model,
                finish_reason=finish_reason(text(message.stop_reason)),
                usage=Usage(count(message.usage.input_tokens), count(message.usage.output_tokens)),
                warnings=(NO_TEMPERATURE,) if request.temperature is not None else (),
            )

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        model, reason, prompt_tokens, completion_tokens = request.model, "stop", 0, 0
        with translated(anthropic):
            events = self._client.messages.create(
                **self._arguments(request), stream=True, timeout=request.timeout
            )
            with events, reading_reply():
                for event in events:
                    if event.type == "message_start":
                        model = text(event.message.model) or model
                        prompt_tokens = count(event.message.usage.input_tokens)
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        yield TextDelta(text(event.delta.text))
                    elif event.type == "message_delta":
                        if event.delta.stop_reason == "refusal":
                            raise AIContentFilteredError()
                        reason = finish_reason(text(event.delta.stop_reason))
                        completion_tokens = count(event.usage.output_tokens)
        yield StreamEnd(
            model=model, finish_reason=reason, usage=Usage(prompt_tokens, completion_tokens)
        )

    def close(self) -> None:
        self._client.close()

    @staticmethod
    def _arguments(request: GenerationRequest) -> dict[str, Any]:
        # System turns go in their own parameter; the API takes only user and
        # assistant turns in ``messages``.
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        arguments: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
        }
        if system:
            arguments["system"] = system
        if request.json_schema is not None:
            arguments["output_config"] = {
                "format": {"type": "json_schema", "schema": request.json_schema}
            }
        return arguments
