"""The AI module: one provider-agnostic client and the generation endpoints."""

from __future__ import annotations

from flask import Flask

from app.api.v1 import ai as ai_api
from app.core import ai


def init_app(app: Flask) -> None:
    ai.init_app(app)
    app.register_blueprint(ai_api.bp)
