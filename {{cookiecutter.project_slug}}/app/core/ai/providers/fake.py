"""The offline fake: deterministic replies, no network, no key.

It is the provider in development and tests until an API key is configured,
so a fresh checkout runs as is; the production profile refuses it. The same
request always gets the same reply: an echo of the last user turn, cut at
``max_tokens`` words, or, for structured output, the simplest value that
matches the schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2

from app.core.ai.base import Completion, GenerationRequest, StreamEnd, StreamEvent, TextDelta, Usage
from app.core.config import Settings

#: How deep :func:`example` follows a schema before it settles for null.
MAX_EXAMPLE_DEPTH = 16


class FakeProvider:
    """Deterministic replies computed from the request; one word counts as one token."""

    name = "fake"
    default_model = "fake-1"

    def __init__(self, settings: Settings, *, http_client: httpx2.Client | None = None) -> None:
        del settings, http_client  # nothing to configure, nothing to connect to

    def generate(self, request: GenerationRequest) -> Completion:
        words, reason = self._reply(request)
        return Completion(
            text=" ".join(words),
            model=request.model,
            finish_reason=reason,
            usage=self._usage(request, words),
        )

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        words, reason = self._reply(request)
        for index, word in enumerate(words):
            yield TextDelta(word if index == 0 else f" {word}")
        yield StreamEnd(
            model=request.model, finish_reason=reason, usage=self._usage(request, words)
        )

    def close(self) -> None:
        pass

    @staticmethod
    def _reply(request: GenerationRequest) -> tuple[list[str], str]:
        if request.json_schema is not None:
            # Whole, never cut: a JSON value cut in half helps nobody in development.
            return [json.dumps(example(request.json_schema))], "stop"
        said = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        words = ["This", "is", "the", "offline", "fake", "provider.", "You", "said:", *said.split()]
        if len(words) > request.max_tokens:
            return words[: request.max_tokens], "length"
        return words, "stop"

    @staticmethod
    def _usage(request: GenerationRequest, words: list[str]) -> Usage:
        prompt = sum(len(m.content.split()) for m in request.messages)
        return Usage(prompt_tokens=prompt, completion_tokens=len(words))


def example(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """The simplest value that matches ``schema`` (for the schemas models are usually given)."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > MAX_EXAMPLE_DEPTH:
        return None
    for keyword in ("const", "default"):
        if keyword in schema:
            return schema[keyword]
    if schema.get("enum"):
        return schema["enum"][0]
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/"):
        target = root
        for part in reference[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return example(target, root, depth + 1)
    for keyword in ("anyOf", "oneOf", "allOf"):
        if schema.get(keyword):
            return example(schema[keyword][0], root, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else None)
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 0 if schema.get("maxItems") == 0 else 1)
        return [example(schema.get("items", {}), root, depth + 1) for _ in range(count)]
    if kind == "string":
        text = "fake".ljust(int(schema.get("minLength", 0)), "e")
        return text[: int(schema.get("maxLength", len(text)))]
    if kind in {"integer", "number"}:
        value = schema.get("minimum", 0)
        if "exclusiveMinimum" in schema:
            value = schema["exclusiveMinimum"] + 1
        value = min(value, schema.get("maximum", value))
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    return None
