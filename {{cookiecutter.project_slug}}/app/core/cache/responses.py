"""Response caching for safe GET endpoints, invalidated by the writes that change them.

::

    @bp.get("")
    @cached_response("widgets")
    @validate(data=WidgetsPublic)
    def list_widgets(query: WidgetListQuery) -> Response: ...

    @bp.post("")
    @invalidates("widgets")
    @validate(data=WidgetPublic, status=201)
    def create_widget(json: WidgetCreate) -> Response: ...

A cached response is keyed by the path and the query string (in any order),
plus whatever ``vary`` returns: give a function returning the user's id to
cache per user, and put the decorator below the one that authenticates.
Only 200 responses are cached. The envelope is stored as the text it was
sent as, without its request id, and served with the current one: a hit is
one cache read and no JSON parsing. ``X-Cache`` says ``HIT`` or ``MISS``.

A successful write closes its namespaces before its database transaction
commits: from then on no process serves or stores their responses. If the
cache cannot confirm that, the write answers 503 ``CACHE_UNAVAILABLE`` and
commits nothing, so no process can serve what it changed. Once the request is
done, the namespaces open again under a new generation; the next read sees the
write, from any process that shares the cache.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, request

from app.core.cache.backends import BackendError
from app.core.cache.manager import CacheManager
from app.core.exceptions import ServiceUnavailableError
from app.core.responses import json_response, with_request_id, without_request_id

F = TypeVar("F", bound=Callable[..., Any])

CACHE_HEADER = "X-Cache"


class _Uncacheable(Exception):
    """The view answered something other than 200: pass it on, store nothing."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _get_cache() -> CacheManager:
    cache: CacheManager = current_app.extensions["cache"]
    return cache


def response_key(vary: Callable[[], str] | None) -> str:
    """The cache key of the current request: its path, its sorted query, ``vary()``."""
    query = urlencode(sorted(request.args.items(multi=True)))
    parts = [request.path, query, vary() if vary else ""]
    return "response:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cached_response(
    namespace: str, *, ttl: float | None = None, vary: Callable[[], str] | None = None
) -> Callable[[F], F]:
    """Serve a GET view's 200 responses from the cache under ``namespace``.

    :param namespace: What the response shows (``"items"``); writes that change
        it are decorated with ``@invalidates(namespace)``.
    :param ttl: Seconds to keep a response (default: ``CACHE_DEFAULT_TTL``).
    :param vary: Extra key part, e.g. the user id for per-user responses.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            computed: list[bool] = []

            def render() -> str:
                computed.append(True)
                response = current_app.make_response(view(*args, **kwargs))
                envelope = response.get_data() if response.status_code == 200 else b""
                stored = without_request_id(envelope) if response.is_json else None
                if stored is None:
                    raise _Uncacheable(response)
                return stored.decode()

            try:
                envelope = _get_cache().get_or_set(
                    response_key(vary), render, ttl, namespace=namespace
                )
            except _Uncacheable as uncacheable:
                return uncacheable.response
            if not isinstance(envelope, str):  # stored by an earlier version: not served
                envelope = render()
            response = json_response(with_request_id(envelope.encode()), 200)
            response.headers[CACHE_HEADER] = "MISS" if computed else "HIT"
            return response

        return wrapper  # type: ignore[return-value]

    return decorator


def invalidates(*namespaces: str) -> Callable[[F], F]:
    """Invalidate ``namespaces`` when the view answers with a success.

    :raises CacheUnavailable: (503) the cache could not be told; nothing is committed.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            response = current_app.make_response(view(*args, **kwargs))
            if response.status_code < 400:
                g.setdefault("cache_invalidations", set()).update(namespaces)
                try:
                    _get_cache().begin_invalidation(*namespaces)
                except BackendError as exc:
                    raise CacheUnavailable() from exc
            return response

        return wrapper  # type: ignore[return-value]

    return decorator


class CacheUnavailable(ServiceUnavailableError):
    code = "CACHE_UNAVAILABLE"
    message = (
        "The cache did not confirm the change, so nothing was changed. Retry after the "
        "seconds in Retry-After."
    )

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


def _finish_invalidations(_exc: BaseException | None) -> None:
    # Teardown runs after the after_request hooks (which commit the database
    # transaction) and before the response reaches the client.
    namespaces = g.pop("cache_invalidations", ())
    if namespaces:
        _get_cache().finish_invalidation(*sorted(namespaces))


def init_app(app: Flask) -> None:
    app.teardown_request(_finish_invalidations)
