"""Rate limits: a budget per client for the whole API, and stricter limits per view.

::

    @bp.post("")
    @rate_limit("10/second;60/minute")   # a burst of 10, at most 60 a minute
    @validate(data=WidgetPublic, status=201)
    def create_widget(json: WidgetCreate) -> Response: ...

    @bp.get("/health")
    @rate_limit_exempt                   # load balancers poll this
    def health() -> Response: ...

Every request counts against its client's ``RATE_LIMIT_DEFAULT`` budget,
whatever the endpoint; a view's own limits apply on top, counted for that
endpoint alone, or for every view that names the same ``scope`` (a quota
that several endpoints draw on). :func:`client_key` says who the client is.

Flask-Limiter does the counting: in the process, or in a shared store when
another extension configured one (then every process and instance enforces
the same limit). If the shared store stops answering, each process counts on
its own until it is back: no request is refused, or failed, because of it.

A refused request gets 429 with ``code: RATE_LIMITED`` and ``Retry-After``
(seconds); every limited response carries ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (a Unix time).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many

from app.core.caller import current_caller
from app.core.config import Settings
from app.core.openapi import document_error
from app.core.responses import error

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger(__name__)

#: Where ``@rate_limit`` leaves its declarations on a view: (limits, key function, scope).
LIMITS_ATTR = "__rate_limits__"
EXEMPT_ATTR = "__rate_limit_exempt__"
RETRY_AFTER_HEADERS = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}


def client_key() -> str:
    """Who a request counts against: the identified caller (``user:42``, see
    ``app.core.caller``), or else the client's IP address (:func:`address_key`)."""
    caller = current_caller()
    return caller.key if caller else address_key()


def address_key() -> str:
    """The client's IP address, as a rate-limit key.

    The address is the socket peer, or the one the trusted proxies report when
    ``TRUSTED_PROXY_COUNT`` is set (see ``app.core.security``), so a client
    cannot pick its own by sending ``X-Forwarded-For``. An IPv6 client counts
    by its /64 network, which it can otherwise walk through at will.
    """
    address = request.remote_addr or "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"ip:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


def rate_limit(
    limits: str | Callable[[], str],
    *,
    key: Callable[[], str] | None = None,
    scope: str | None = None,
) -> Callable[[F], F]:
    """Give a view limits of its own (``"10/second;60/minute"``), on top of the default.

    :param limits: The limits, or a function that returns them for the current
        request (a higher quota for some callers, a setting read at run time;
        an empty string: no limit for this request).
    :param key: Who these limits count against, if not :func:`client_key`
        (an account named in the request, say).
    :param scope: Count requests to every view with this scope together, instead
        of per view (views that share a scope should share its limits too).
    """
    if isinstance(limits, str):
        parse_many(limits)  # a typo fails at import, not at the first request

    def decorator(view: F) -> F:
        declared = (limits, key, scope)
        setattr(view, LIMITS_ATTR, [*getattr(view, LIMITS_ATTR, []), declared])
        return view

    return decorator


def write_limit() -> str:
    """``RATE_LIMIT_WRITES``: the limits of a write endpoint, as ``@rate_limit(write_limit)``."""
    settings: Settings = current_app.extensions["settings"]
    return settings.RATE_LIMIT_WRITES


def rate_limit_exempt(view: F) -> F:
    """Exempt a view from every limit (health checks, for one)."""
    setattr(view, EXEMPT_ATTR, True)
    return view


def apply_view_limits(app: Flask) -> None:
    """Apply the ``@rate_limit`` and ``@rate_limit_exempt`` declarations of the
    app's views; views already handled are skipped, so call it again after
    adding routes to a built app."""
    limiter: Limiter | None = app.extensions["rate_limiter"]
    if limiter is None:
        return
    handled: set[str] = app.extensions["rate_limited_views"]
    has_default = bool(app.extensions["settings"].RATE_LIMIT_DEFAULT)
    for endpoint, view in list(app.view_functions.items()):
        if endpoint in handled or endpoint == "static":
            continue
        handled.add(endpoint)
        if getattr(view, EXEMPT_ATTR, False):
            limiter.exempt(view)
            continue
        limits = getattr(view, LIMITS_ATTR, [])
        limited: Callable[..., Any] = view
        for value, key, scope in limits:
            if scope is None:
                limit = limiter.limit(value, key_func=key, exempt_when=_unlimited)
            else:
                limit = limiter.shared_limit(value, scope, key_func=key, exempt_when=_unlimited)
            limited = limit(limited)
        app.view_functions[endpoint] = limited
        if limits or has_default:
            document_error(app, endpoint, 429, headers=RETRY_AFTER_HEADERS)


def _unlimited() -> bool:
    caller = current_caller()
    return bool(caller and caller.unlimited)


def _not_limited() -> bool:
    """Skip the limiter at once for exempt views and unlimited callers."""
    view = current_app.view_functions.get(request.endpoint or "")
    return view is None or getattr(view, EXEMPT_ATTR, False) or _unlimited()


def _too_many_requests(exc: RateLimitExceeded) -> Response:
    limit = str(exc.limit.limit)
    return error(
        f"Too many requests: the limit is {limit}. Retry after the seconds in Retry-After.",
        "RATE_LIMITED",
        429,
        details={"limit": limit},
    )


def _add_headers(limiter: Limiter) -> Callable[[Response], Response]:
    def add_headers(response: Response) -> Response:
        current = limiter.current_limit
        if current is None:
            return response
        try:
            reset_time, remaining = current.window
        except Exception:  # the counter store went away mid-request
            logger.warning("Could not read the rate limit state", exc_info=True)
            return response
        response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = str(math.ceil(reset_time))
        if response.status_code == 429:
            retry_after = max(1, math.ceil(reset_time - time.time()))
            response.headers["Retry-After"] = str(retry_after)
        return response

    return add_headers


def init_app(app: Flask) -> None:
    """Build the app's limiter, which checks the budget before any other request
    hook (authentication included); :func:`apply_view_limits` then adds the
    views' own limits, once the blueprints are registered."""
    settings: Settings = app.extensions["settings"]
    app.extensions["rate_limited_views"] = set()
    if not settings.RATE_LIMIT_ENABLED:
        app.extensions["rate_limiter"] = None
        return
    # Another extension may have configured a shared storage.
    storage_uri = app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    shared = storage_uri != "memory://"
    limiter = Limiter(
        key_func=client_key,
        # One budget per client for all endpoints ("application" limits in Flask-Limiter).
        application_limits=[settings.RATE_LIMIT_DEFAULT] if settings.RATE_LIMIT_DEFAULT else [],
        application_limits_exempt_when=_unlimited,
        # Another extension may offer a faster implementation of the strategy.
        strategy=app.extensions.get("rate_limit_strategies", {}).get(
            settings.RATE_LIMIT_STRATEGY, settings.RATE_LIMIT_STRATEGY
        ),
        # Headers are added below, Retry-After only where it means something (429).
        headers_enabled=False,
        # A shared store that fails: count in this process until it is back
        # (checked again after 1, 2, 4 ... 32 s), and never fail the request.
        in_memory_fallback_enabled=shared,
        swallow_errors=True,
    )
    limiter.request_filter(_not_limited)
    limiter.init_app(app)
    app.extensions["rate_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many_requests)
    app.after_request(_add_headers(limiter))
