"""Calls to the AI provider in the metrics: by provider, model and outcome, with tokens."""

from __future__ import annotations

from types import ModuleType

from flask import Flask

from app.core.metrics import Metrics
from tests.ai_upstream import Upstream
from tests.conftest import MakeApp
from tests.fixtures.ai import data, post
from tests.fixtures.metrics import sample


def calls_by_outcome(app: Flask) -> dict[str, float]:
    metrics: Metrics = app.extensions["metrics"]
    return {
        found.labels["outcome"]: found.value
        for family in metrics.registry.collect()
        for found in family.samples
        if found.name == "ai_calls_total"
    }


def test_calls_and_their_tokens_are_counted(app: Flask) -> None:
    reply = data(post(app, prompt="Count me."))
    labels = {"provider": reply["provider"], "model": reply["model"]}
    assert sample(app, "ai_calls_total", outcome="ok", **labels) == 1
    assert sample(app, "ai_call_duration_seconds_count", **labels) == 1
    usage = reply["usage"]
    assert usage["total_tokens"] > 0
    assert sample(app, "ai_tokens_total", kind="prompt", **labels) == usage["prompt_tokens"]
    assert sample(app, "ai_tokens_total", kind="completion", **labels) == usage["completion_tokens"]


def test_each_attempt_counts_with_its_outcome(
    make_ai_app: MakeApp, upstream: Upstream, wire: ModuleType
) -> None:
    upstream.script(wire.error(500), wire.reply("Fine."))
    app = make_ai_app(AI_MAX_RETRIES=1)
    assert data(post(app, prompt="Hi"))["text"] == "Fine."
    outcomes = calls_by_outcome(app)
    assert outcomes.pop("ok") == 1
    [(failure, count)] = outcomes.items()
    assert failure.startswith("AI_")
    assert count == 1
