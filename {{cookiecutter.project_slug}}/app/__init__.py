"""{{ cookiecutter.project_name }}: the application factory."""

from __future__ import annotations

import functools

from flask import Flask

from app.core.config import Settings

__version__ = "{{ cookiecutter.version }}"


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

    # Framework pieces, in the order a request meets them.
    from app.core import (
        cache,
        caller,
        errors,
        inputs,
        logs,
        openapi,
        rate_limit,
        readiness,
        security,
    )

    logs.init_app(app)
    security.init_app(app)
    inputs.init_app(app)
    errors.init_app(app)
    openapi.init_app(app)
    readiness.init_app(app)
{%- if cookiecutter.use_redis %}

    # Redis, when REDIS_URL is set: the shared store of the cache and the limiter.
    from app.core import jobs, redis

    redis.init_app(app)
    jobs.init_app(app)
{%- endif %}
    cache.init_app(app)
    caller.init_app(app)
    # Rate limits before authentication, so no flood reaches the database.
    rate_limit.init_app(app)
{%- if cookiecutter.database != "none" %}

    from app.core import db

    db.init_app(app)
{%- endif %}
{%- if cookiecutter.use_auth %}

    from app.core import auth

    auth.init_app(app)
{%- endif %}
{%- if cookiecutter.ai_provider != "none" %}

    from app.core import ai

    ai.init_app(app)
{%- endif %}

    # The API: one blueprint per resource.
    from app.api.v1 import health

    app.register_blueprint(health.bp)
{%- if cookiecutter.database != "none" %}

    from app.api.v1 import items

    app.register_blueprint(items.bp)
{%- endif %}
{%- if cookiecutter.use_auth %}

    from app.api.v1 import auth as auth_api
    from app.api.v1 import users

    app.register_blueprint(auth_api.bp)
    app.register_blueprint(users.bp)
{%- endif %}
{%- if cookiecutter.ai_provider != "none" %}

    from app.api.v1 import ai as ai_api

    app.register_blueprint(ai_api.bp)
{%- endif %}
{%- if cookiecutter.use_redis %}

    from app.api.v1 import jobs as jobs_api

    app.register_blueprint(jobs_api.bp)
{%- endif %}
{%- if cookiecutter.ai_provider != "none" and cookiecutter.use_redis %}

    from app.api.v1 import ai_jobs

    app.register_blueprint(ai_jobs.bp)
{%- endif %}

    # Last, because it wraps the views registered above with their own limits.
    rate_limit.apply_view_limits(app)
    return app
