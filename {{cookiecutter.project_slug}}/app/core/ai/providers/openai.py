"""OpenAI through the official SDK, using Chat Completions.

Chat Completions (rather than the newer Responses API) is what OpenAI-compatible
servers implement, so ``AI_BASE_URL`` points this provider at Azure OpenAI,
vLLM, Ollama or LM Studio as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai

from app.core.ai.base import Completion, GenerationRequest, StreamEnd, StreamEvent, TextDelta, Usage
from app.core.ai.errors import AIContentFilteredError, AIMalformedReplyError
from app.core.ai.providers._sdk import (
    client_options,
    count,
    finish_reason,
    reading_reply,
    text,
    translated,
)
from app.core.config import Settings

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Error codes with which OpenAI refuses content.
CONTENT_CODES = frozenset({"content_filter", "content_policy_violation"})


class OpenAIProvider:
    """Chat Completions on the official ``openai`` SDK.

    :param http_client: The ``httpx2.Client`` the SDK sends with; None lets the
        SDK make its own (with its connection pool of up to 1000 connections).
    """

    name = "openai"
    default_model = "gpt-5.4-mini"

    def __init__(self, settings: Settings, *, http_client: httpx2.Client | None = None) -> None:
        self._client = openai.OpenAI(
            **client_options(
                openai, settings, default_base_url=DEFAULT_BASE_URL, http_client=http_client
            )
        )

    def generate(self, request: GenerationRequest) -> Completion:
        with translated(openai, content_codes=CONTENT_CODES):
            completion = self._client.chat.completions.create(
                **self._arguments(request), timeout=request.timeout
            )
        with reading_reply():
            if not completion.choices or completion.choices[0].message is None:
                raise AIMalformedReplyError("The AI provider sent a reply without a message.")
            choice = completion.choices[0]
            if choice.finish_reason == "content_filter" or choice.message.refusal:
                raise AIContentFilteredError()
            usage = completion.usage
            return Completion(
                text=text(choice.message.content),
                model=text(completion.model) or request.model,
                finish_reason=finish_reason(text(choice.finish_reason)),
                usage=Usage(count(usage.prompt_tokens), count(usage.completion_tokens))
                if usage
                else Usage(),
            )

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        with translated(openai, content_codes=CONTENT_CODES):
            chunks = self._client.chat.completions.create(
                **self._arguments(request),
                stream=True,
                # The last chunk then carries the token counts.
                stream_options={"include_usage": True},
                timeout=request.timeout,
            )
            with chunks, reading_reply():
                model, reason, usage = request.model, "stop", Usage()
                for chunk in chunks:
                    model = text(chunk.model) or model
                    if chunk.usage is not None:
                        usage = Usage(
                            count(chunk.usage.prompt_tokens), count(chunk.usage.completion_tokens)
                        )
                    for choice in chunk.choices or ():
                        if choice.finish_reason == "content_filter":
                            raise AIContentFilteredError()
                        if choice.finish_reason:
                            reason = finish_reason(text(choice.finish_reason))
                        if choice.delta is not None and choice.delta.content:
                            yield TextDelta(text(choice.delta.content))
        yield StreamEnd(model=model, finish_reason=reason, usage=usage)

    def close(self) -> None:
        self._client.close()

    @staticmethod
    def _arguments(request: GenerationRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_completion_tokens": request.max_tokens,
        }
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.json_schema is not None:
            # Not strict: strict mode accepts only a subset of JSON Schema, and
            # the reply is validated here anyway.
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": request.json_schema, "strict": False},
            }
        return arguments
