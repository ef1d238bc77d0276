"""{{ cookiecutter.project_name }}: the application factory."""

from __future__ import annotations

import functools
from importlib import import_module

from flask import Flask

from app.core.config import Settings

#: What the app is made of, in the order a request meets it. Each is a module
#: whose ``init_app(app)`` attaches it: its state in ``app.extensions``, and its
#: blueprints, commands and hooks. The framework pieces come from ``app.core``;
#: an optional module is one line from ``app.features``.
EXTENSIONS = (
    "app.core.logs",
{%- if cookiecutter.use_metrics %}
    "app.features.metrics",
{%- endif %}
    "app.core.security",
    "app.core.inputs",
    "app.core.errors",
    "app.core.openapi",
    "app.core.readiness",
    "app.features.health",
{%- if cookiecutter.use_redis %}
    "app.features.redis",
{%- endif %}
    # The cache and the limiter use the shared store of a module above, if any.
    "app.core.cache",
    "app.core.caller",
    # Rate limits before authentication, so no flood reaches the database.
    "app.core.rate_limit",
{%- if cookiecutter.database != "none" %}
    "app.features.database",
{%- endif %}
{%- if cookiecutter.use_auth %}
    "app.features.auth",
{%- endif %}
{%- if cookiecutter.use_api_keys %}
    "app.features.api_keys",
{%- endif %}
{%- if cookiecutter.ai_provider != "none" %}
    "app.features.ai",
{%- endif %}
{%- if cookiecutter.ai_provider != "none" and cookiecutter.use_redis %}
    "app.features.ai_jobs",
{%- endif %}
{%- if cookiecutter.ai_provider != "none" and cookiecutter.use_metrics %}
    "app.features.metrics_ai",
{%- endif %}
)


def create_app(settings: Settings | None = None) -> Flask:
    """Build a configured application.

    Nothing connects at import time: every extension is attached here, so tests
    and scripts can build as many independent apps as they need.

    :param settings: Use these settings instead of reading the environment and
        ``.env`` (tests pass their own).
    """
    settings = settings or Settings()
    app = Flask(__name__)
    # Flask asks whether each hook and view is a coroutine function on every
    # request; the answer never changes, so ask once per function.
    app.ensure_sync = functools.lru_cache(maxsize=None)(app.ensure_sync)  # type: ignore[method-assign]
    app.config.from_mapping(settings.flask_config())
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the envelope's field order
    app.extensions["settings"] = settings

    for name in EXTENSIONS:
        import_module(name).init_app(app)

    # Last, because it wraps the views registered above with their own limits.
    from app.core import rate_limit

    rate_limit.apply_view_limits(app)
    return app
