"""What views and the guard know of API keys: the app's ``ApiKeys``, the
principal a key stands for, and the scope each endpoint needs.

Scopes are derived from the routes, so no view declares one: a request to a
blueprint ``items`` needs ``items:read`` for GET and HEAD and ``items:write``
for any other method. Key management, the account (``auth``), the admin-only
blueprints and views marked ``@privileged`` need a signed-in user: no scope
opens them to a key, nor does an endpoint outside a blueprint.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from app.core import access
from app.core.auth.guard import ROLE_BLUEPRINTS
from app.core.auth.principal import Principal
from app.services.api_keys import ApiKeys

#: Blueprints a key never reaches, besides ``ROLE_BLUEPRINTS``.
KEYLESS_BLUEPRINTS = frozenset({"api_keys", "auth"})
READ_METHODS = frozenset({"GET", "HEAD"})


def api_keys() -> ApiKeys:
    """The ``ApiKeys`` of the current app (``app.features.api_keys`` builds it)."""
    found: ApiKeys = current_app.extensions["api_keys"]
    return found


@dataclass(frozen=True)
class KeyPrincipal(Principal):
    """A user acting through one of their API keys, limited to its scopes.

    ``session_id`` is the key's id: a key is its own long-lived session.
    """

    scopes: frozenset[str] = frozenset()

    @property
    def key_id(self) -> uuid.UUID:
        return self.session_id

    @property
    def caller_key(self) -> str:
        """Each key has rate limits of its own, apart from its user's other credentials."""
        return f"api-key:{self.key_id}"


def required_scope(blueprint: str | None, method: str, view: Callable[..., Any]) -> str | None:
    """The scope a key needs for ``method`` on ``view``; None: no key may call it."""
    if (
        blueprint is None
        or blueprint in KEYLESS_BLUEPRINTS
        or blueprint in ROLE_BLUEPRINTS
        or access.is_privileged(view)
    ):
        return None
    return f"{blueprint}:{'read' if method in READ_METHODS else 'write'}"


def available_scopes(app: Flask) -> frozenset[str]:
    """Every scope some endpoint of ``app`` needs (computed once, after every
    blueprint is registered)."""
    if "api_key_scopes" not in app.extensions:
        scopes = set()
        for rule in app.url_map.iter_rules():
            blueprint, _, _ = rule.endpoint.rpartition(".")
            view = app.view_functions[rule.endpoint]
            if access.is_public(view):
                continue
            for method in (rule.methods or set()) - {"OPTIONS"}:
                scope = required_scope(blueprint or None, method, view)
                if scope is not None:
                    scopes.add(scope)
        app.extensions["api_key_scopes"] = frozenset(scopes)
    found: frozenset[str] = app.extensions["api_key_scopes"]
    return found
