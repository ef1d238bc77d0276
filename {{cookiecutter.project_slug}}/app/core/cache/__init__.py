"""The app's cache: :class:`CacheManager` for values, decorators for responses.

``init_app`` uses the shared backend another extension registered in
``app.extensions["cache_backend"]``, and otherwise a dictionary in this
process. Use the cache through
:func:`get_cache`::

    report = get_cache().get_or_set(f"report:{day}", lambda: build_report(day), ttl=600)
"""

from __future__ import annotations

from flask import Flask, current_app

from app.core.cache import responses
from app.core.cache.backends import BackendError, CacheBackend, MemoryBackend
from app.core.cache.manager import CacheManager
from app.core.cache.responses import cached_response, invalidates
from app.core.config import Settings

__all__ = [
    "BackendError",
    "CacheBackend",
    "CacheManager",
    "MemoryBackend",
    "cached_response",
    "get_cache",
    "init_app",
    "invalidates",
]


def get_cache() -> CacheManager:
    """The cache of the current app."""
    cache: CacheManager = current_app.extensions["cache"]
    return cache


def init_app(app: Flask) -> None:
    settings: Settings = app.extensions["settings"]
    backend: CacheBackend = app.extensions.get("cache_backend") or MemoryBackend()
    app.extensions["cache"] = CacheManager(
        backend,
        version=settings.CACHE_VERSION,
        default_ttl=settings.CACHE_DEFAULT_TTL,
        enabled=settings.CACHE_ENABLED,
    )
    responses.init_app(app)
