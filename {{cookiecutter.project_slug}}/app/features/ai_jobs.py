"""Generation as a background job (the AI module with Redis)."""

from __future__ import annotations

from flask import Flask

from app.api.v1 import ai_jobs as ai_jobs_api


def init_app(app: Flask) -> None:
    app.register_blueprint(ai_jobs_api.bp)
