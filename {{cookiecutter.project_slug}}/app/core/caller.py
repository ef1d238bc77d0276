"""Who sent the current request, as far as the installed modules can tell.

Rate limits count per caller, cached responses are kept per caller, and jobs
remember who queued them. A module that identifies callers (by a signed token,
say) registers a resolver with :func:`set_resolver`; without one, or when the
request carries nothing it recognizes, there is no caller and those features
fall back to the client's address, or to one shared view.

The resolver runs before the rate limits, so it must be cheap (the auth module
answers from the shared session states) and must trust nothing it has not
verified: a caller it names is who the limits count and exempt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app, g


@dataclass(frozen=True)
class Caller:
    """An identified caller."""

    #: Stable and unique, e.g. ``user:42``.
    key: str
    roles: frozenset[str] = field(default_factory=frozenset)
    #: Rate limits do not apply to this caller.
    unlimited: bool = False
    #: May see what every caller owns (jobs, say): an administrator.
    privileged: bool = False


Resolver = Callable[[], Caller | None]


def init_app(app: Flask) -> None:
    app.extensions["caller_resolver"] = None


def set_resolver(app: Flask, resolver: Resolver) -> None:
    app.extensions["caller_resolver"] = resolver


def identifies_callers() -> bool:
    """Whether a module identifies callers; then it refuses anonymous calls of
    views not marked ``@public`` (``app.core.access``)."""
    return current_app.extensions["caller_resolver"] is not None


def current_caller() -> Caller | None:
    """The caller of the current request (resolved once per request)."""
    if "caller" not in g:
        resolver: Resolver | None = current_app.extensions["caller_resolver"]
        g.caller = resolver() if resolver else None
    caller: Caller | None = g.caller
    return caller


def caller_key() -> str:
    """``current_caller().key``, or an empty string for an unidentified caller."""
    caller = current_caller()
    return caller.key if caller else ""
