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

The limits of a request are counted in one step, smallest window first, until
one refuses: in the process, or in a shared store when another extension
registered one (``app.extensions["rate_limit_store"]``, which counts them all
in one round trip), and then every process and instance enforces the same
limit. The arithmetic of each strategy is that of the ``limits`` library. If
the shared store stops answering, each process counts on its own until it is
back: no request is refused, or failed, because of it.

A view's own limits count only the requests that reach the view: an anonymous
call of a view that needs a caller is refused before it (and counts against
the budget alone), so it cannot use up the quota of the callers it names.

A refused request gets 429 with ``code: RATE_LIMITED`` and ``Retry-After``
(seconds); every limited response carries ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (a Unix time).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from app.core.access import is_public
from app.core.caller import current_caller, identifies_callers
from app.core.config import Settings
from app.core.exceptions import APIError
from app.core.openapi import document_error

F = TypeVar("F", bound=Callable[..., Any])

#: Where ``@rate_limit`` leaves its declarations on a view: (limits, key function, scope).
LIMITS_ATTR = "__rate_limits__"
EXEMPT_ATTR = "__rate_limit_exempt__"
RETRY_AFTER_HEADERS = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}
#: The scope of the API-wide budget.
GLOBAL_SCOPE = "global"
#: A limit of one view alone, or one that several views share (the budget, a ``scope``).
OWN, SHARED = 1, 2


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
    return _address_key(request.remote_addr or "unknown")


@functools.lru_cache(maxsize=4096)
def _address_key(address: str) -> str:
    # Parsing an address costs more than the rest of a request's counting:
    # the key of each recent client is kept.
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"ip:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


@functools.lru_cache(maxsize=256)
def parse_limits(value: str) -> tuple[RateLimitItem, ...]:
    """``"10/second;60/minute"`` as ``limits`` items (parsed once per distinct text)."""
    return tuple(parse_many(value)) if value.strip() else ()


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
        parse_limits(limits)  # a typo fails at import, not at the first request

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


# -- counting ----------------------------------------------------------------


class Check(NamedTuple):
    """One limit to count a request against, under ``key`` (who and where)."""

    item: RateLimitItem
    key: str


class Window(NamedTuple):
    """A limit's state once the request was counted."""

    allowed: bool
    remaining: int
    #: Unix time at which the limit has room again.
    reset: float


class LimitStore(Protocol):
    """Where the counters live."""

    def hit(self, strategy: str, checks: Sequence[Check]) -> list[Window]:
        """Count one request against each check in turn, until one refuses it.

        :returns: The window of each check counted, the refusing one last.
        """
        ...


class MemoryLimitStore:
    """Counters in this process, kept by the ``limits`` library."""

    def __init__(self) -> None:
        storage = MemoryStorage()
        self._strategies = {
            "sliding-window-counter": SlidingWindowCounterRateLimiter(storage),
            "moving-window": MovingWindowRateLimiter(storage),
        }

    def hit(self, strategy: str, checks: Sequence[Check]) -> list[Window]:
        limiter = self._strategies[strategy]
        windows = []
        for item, key in checks:
            allowed = limiter.hit(item, key)
            reset, remaining = limiter.get_window_stats(item, key)
            windows.append(Window(allowed, remaining, reset))
            if not allowed:
                break
        return windows


@dataclass(frozen=True)
class ViewLimits:
    """What a view's declarations say, read once per endpoint."""

    exempt: bool
    #: (limits or a function returning them, key function, scope) per ``@rate_limit``.
    declared: tuple[tuple[str | Callable[[], str], Callable[[], str] | None, str | None], ...]


class RateLimiter:
    """Counts each request against the default budget and its view's limits."""

    def __init__(self, *, store: LimitStore, strategy: str, default: str) -> None:
        self.store = store
        self.strategy = strategy
        self.default = parse_limits(default)
        self._views: dict[str, ViewLimits] = {}
        # The checks of a view without limits of its own depend on the client
        # alone: those of each recent client are kept.
        self._budget_checks = functools.lru_cache(maxsize=4096)(self._make_budget_checks)

    def view_limits(self, app: Flask, endpoint: str) -> ViewLimits:
        found = self._views.get(endpoint)
        if found is None:
            view = app.view_functions[endpoint]
            found = self._views[endpoint] = ViewLimits(
                exempt=bool(getattr(view, EXEMPT_ATTR, False)),
                declared=tuple(getattr(view, LIMITS_ATTR, ())),
            )
        return found

    def checks(self, endpoint: str, view: ViewLimits) -> tuple[Sequence[Check], int]:
        """The request's checks, smallest window first, and the index of the one
        whose state the headers show while none refuses (a view's own limit
        rather than the budget)."""
        budget_key = client_key()
        if not view.declared:
            return self._budget_checks(budget_key), 0
        ordered: list[tuple[int, int, Check]] = [
            (check.item.GRANULARITY.seconds, SHARED, check)
            for check in self._budget_checks(budget_key)
        ]
        for limits, key_function, scope in view.declared:
            items = parse_limits(limits() if callable(limits) else limits)
            key = key_function() if key_function else budget_key
            if items and key:
                where, kind = (scope, SHARED) if scope else (endpoint, OWN)
                ordered += [
                    (item.GRANULARITY.seconds, kind, Check(item, f"{where}/{key}/{item}"))
                    for item in items
                ]
        ordered.sort(key=lambda entry: entry[0])  # stable: the budget first within a window
        own = next((index for index, entry in enumerate(ordered) if entry[1] == OWN), 0)
        return [check for _, _, check in ordered], own

    def _make_budget_checks(self, budget_key: str) -> tuple[Check, ...]:
        return tuple(
            Check(item, f"{GLOBAL_SCOPE}/{budget_key}/{item}")
            for item in sorted(self.default, key=lambda item: item.GRANULARITY.seconds)
        )

    def count(self, app: Flask, endpoint: str) -> None:
        """Count the current request; raise :class:`RateLimited` if a limit refuses it."""
        view = self.view_limits(app, endpoint)
        if view.exempt or _unlimited():
            return
        if view.declared and not _reaches_view(app.view_functions[endpoint]):
            view = ViewLimits(exempt=False, declared=())
        checks, own = self.checks(endpoint, view)
        if not checks:
            return
        windows = self.store.hit(self.strategy, checks)
        last = windows[-1]
        if not last.allowed:
            g.rate_limit = (checks[len(windows) - 1].item, last)
            raise RateLimited(checks[len(windows) - 1].item)
        g.rate_limit = (checks[own].item, windows[own])


class RateLimited(APIError):
    status, code = 429, "RATE_LIMITED"

    def __init__(self, item: RateLimitItem) -> None:
        super().__init__(
            f"Too many requests: the limit is {item}. Retry after the seconds in Retry-After.",
            details={"limit": str(item)},
        )


def _unlimited() -> bool:
    caller = current_caller()
    return bool(caller and caller.unlimited)


def _reaches_view(view: Callable[..., Any]) -> bool:
    """Whether the request will reach its view, so that the view's own limits
    count it: not a CORS preflight (Flask answers those), and not an anonymous
    call of a view that needs a caller (a guard refuses it, and a quota is not
    used up by requests that were refused)."""
    if request.method == "OPTIONS":
        return False
    return current_caller() is not None or is_public(view) or not identifies_callers()


def _count_request() -> None:
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":  # the 404 handler answers
        return
    limiter: RateLimiter = current_app.extensions["rate_limiter"]
    limiter.count(current_app, endpoint)


def _add_headers(response: Response) -> Response:
    state: tuple[RateLimitItem, Window] | None = g.pop("rate_limit", None)
    if state is None:
        return response
    item, window = state
    headers = response.headers
    # Added, not set: only this module writes them (adding skips a search).
    headers.add("X-RateLimit-Limit", str(item.amount))
    headers.add("X-RateLimit-Remaining", str(window.remaining))
    headers.add("X-RateLimit-Reset", str(math.ceil(window.reset)))
    if not window.allowed:  # refused by this limit, not a 429 of some other cause
        headers["Retry-After"] = str(max(1, math.ceil(window.reset - time.time())))
    return response


def apply_view_limits(app: Flask) -> None:
    """Document the 429 of every view that can answer it; call it again after
    adding routes to a built app (their declarations are read at their first
    request either way)."""
    limiter: RateLimiter | None = app.extensions["rate_limiter"]
    if limiter is None:
        return
    for endpoint in list(app.view_functions):
        if endpoint == "static":
            continue
        view = limiter.view_limits(app, endpoint)
        if not view.exempt and (view.declared or limiter.default):
            document_error(app, endpoint, 429, headers=RETRY_AFTER_HEADERS)


def init_app(app: Flask) -> None:
    """Count every request against its limits before any other request hook
    (authentication included); :func:`apply_view_limits` then documents the
    views' limits, once the blueprints are registered."""
    settings: Settings = app.extensions["settings"]
    if not settings.RATE_LIMIT_ENABLED:
        app.extensions["rate_limiter"] = None
        return
    # Another extension may have registered a shared store.
    store: LimitStore = app.extensions.get("rate_limit_store") or MemoryLimitStore()
    app.extensions["rate_limiter"] = RateLimiter(
        store=store, strategy=settings.RATE_LIMIT_STRATEGY, default=settings.RATE_LIMIT_DEFAULT
    )
    app.before_request(_count_request)
    app.after_request(_add_headers)
