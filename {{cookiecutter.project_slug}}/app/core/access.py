"""Access markers, read by whichever module guards the API.

With a guard installed (authentication), every endpoint needs credentials
unless its view is marked :func:`public`, and a view marked :func:`privileged`
is for the most trusted callers only (administrators); without a guard, every
endpoint is open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC_ATTR = "__public__"
PRIVILEGED_ATTR = "__privileged__"


def public(view: F) -> F:
    """Let anyone call ``view``, without credentials (health checks, sign-in)."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def is_public(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, PUBLIC_ATTR, False))


def privileged(view: F) -> F:
    """Let only privileged callers call ``view`` (maintenance that costs everyone)."""
    setattr(view, PRIVILEGED_ATTR, True)
    return view


def is_privileged(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, PRIVILEGED_ATTR, False))
