"""The AI module: text and structured generation through one provider-agnostic client.

``init_app`` builds the provider ``AI_PROVIDER`` selects (see
:mod:`app.core.ai.registry`) and attaches an :class:`~app.core.ai.client.AIClient`
to the app; views and services get it with :func:`get_ai`.
"""

from __future__ import annotations

from flask import Flask, current_app

from app.core.ai.base import AIProvider
from app.core.ai.client import AIClient
from app.core.ai.registry import build_provider


def init_app(app: Flask, provider: AIProvider | None = None) -> None:
    """Attach an :class:`AIClient` to ``app``.

    :param provider: Use this provider instead of the one the settings select
        (tests pass providers wired to a mock upstream).
    """
    previous: AIClient | None = app.extensions.get("ai")
    if previous is not None:
        previous.close()
    settings = app.extensions["settings"]
    app.extensions["ai"] = AIClient(provider or build_provider(settings), settings)


def get_ai() -> AIClient:
    """The AI client of the current app."""
    client: AIClient = current_app.extensions["ai"]
    return client
