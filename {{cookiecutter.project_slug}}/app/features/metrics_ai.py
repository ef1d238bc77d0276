"""Metrics of the AI module: each call to the provider, by outcome, with its
seconds and tokens (``app/core/ai/client.py`` reports them)."""

from __future__ import annotations

from flask import Flask

from app.core.ai.client import AIClient, Call
from app.core.metrics import Metrics

#: Seconds: a short completion to a long generation at AI_TIMEOUT's upper range.
CALL_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class CallMetrics:
    """``ai_calls_total`` by ``provider``, ``model`` and ``outcome`` (``ok``,
    ``client_closed`` or the error code), ``ai_call_duration_seconds`` by
    ``provider`` and ``model``, and ``ai_tokens_total`` by ``provider``, ``model``
    and ``kind`` (prompt, completion). The models are those the settings allow."""

    def __init__(self, metrics: Metrics) -> None:
        self.calls = metrics.counter(
            "ai_calls_total",
            "Calls to the AI provider, by outcome.",
            ("provider", "model", "outcome"),
        )
        self.seconds = metrics.histogram(
            "ai_call_duration_seconds",
            "Seconds each call to the AI provider took (a stream: until it ended).",
            ("provider", "model"),
            buckets=CALL_BUCKETS,
        )
        self.tokens = metrics.counter(
            "ai_tokens_total", "Tokens the AI provider counted.", ("provider", "model", "kind")
        )

    def record(self, call: Call) -> None:
        self.calls.labels(call.provider, call.model, call.outcome).inc()
        self.seconds.labels(call.provider, call.model).observe(call.seconds)
        if call.usage is not None:
            self.tokens.labels(call.provider, call.model, "prompt").inc(call.usage.prompt_tokens)
            self.tokens.labels(call.provider, call.model, "completion").inc(
                call.usage.completion_tokens
            )

    def listen(self, app: Flask) -> None:
        """Count the calls of the app's AI client (the one it has at its first request)."""
        client: AIClient = app.extensions["ai"]
        client.on_call(self.record)


def init_app(app: Flask) -> None:
    metrics: Metrics | None = app.extensions.get("metrics")
    if metrics is not None:
        metrics.at_first_request(CallMetrics(metrics).listen)
