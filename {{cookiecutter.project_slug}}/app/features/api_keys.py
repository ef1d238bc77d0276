"""API keys: long-lived credentials of a user for machine clients, limited to scopes.

Plugs into the guard of ``app.core.auth`` as a scheme asked before the access
tokens (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``), and as a check
that keeps a key to its scopes and away from key management, the account and
administration. Adds the ``/api/v1/api-keys`` blueprint, the ``flask api-keys``
commands and the scopes of each operation to the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from flask import Flask, request

from app.api.api_keys import KeyPrincipal, api_keys, available_scopes, required_scope
from app.api.auth import authenticator
from app.api.v1 import api_keys as api_keys_api
from app.cli.api_keys import api_keys as api_keys_cli
from app.core.auth.errors import AccountDisabled
from app.core.auth.guard import Scheme, add_check, add_scheme, bearer_token
from app.core.auth.principal import Principal
from app.core.cache import MemoryBackend
from app.core.config import MIN_SECRET_BYTES, PLACEHOLDER_SECRET, ConfigurationError, Settings
from app.core.db import get_session
from app.core.exceptions import ForbiddenError
from app.core.openapi import add_document_hook, error_response, operations
from app.models import api_key  # noqa: F401 - its table, for the migrations
from app.schemas.api_key import ApiKeyCreate
from app.services.api_keys import ApiKeyRevoked, ApiKeys, KeyFormat, KeyHasher, KeyStates

SCHEME_NAME = "apiKey"
HEADER = "X-API-Key"
OPENAPI_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": HEADER,
    "description": "An API key; 'Authorization: Bearer <key>' works too. A key acts as "
    "its user, limited to its scopes (listed per operation).",
}


class KeyNotAllowed(ForbiddenError):
    code = "API_KEY_NOT_ALLOWED"
    message = "API keys cannot call this endpoint; sign in as the user."


class ScopeMissing(ForbiddenError):
    code = "API_KEY_SCOPE_MISSING"

    def __init__(self, scope: str) -> None:
        super().__init__(f"This API key lacks the scope {scope!r}.", details={"scope": scope})


def init_app(app: Flask) -> None:
    settings: Settings = app.extensions["settings"]
    shared_store = app.extensions.get("shared_store")
    backend = shared_store("api-keys") if shared_store else None
    app.extensions["api_keys"] = ApiKeys(
        key_format=KeyFormat(settings.API_KEY_PREFIX),
        hasher=KeyHasher(_pepper(settings)),
        max_per_user=settings.API_KEY_MAX_PER_USER,
        # As for sessions: only a store every process shares may answer for the
        # database, or a revocation would go unseen by the other processes.
        states=KeyStates(backend, ttl=settings.API_KEY_CACHE_TTL)
        if backend is not None and settings.API_KEY_CACHE_TTL > 0
        else None,
        recent_uses=backend or MemoryBackend(),
    )
    add_scheme(app, Scheme(SCHEME_NAME, _api_key, OPENAPI_SCHEME), first=True)
    add_check(app, _within_scopes)
    add_document_hook(app, _document_scopes)
    app.cli.add_command(api_keys_cli)
    app.register_blueprint(api_keys_api.bp)


def _pepper(settings: Settings) -> bytes:
    """The HMAC key of stored secrets: ``API_KEY_PEPPER``, or else one derived
    from ``SECRET_KEY`` (rotating that one then invalidates every key)."""
    if settings.API_KEY_PEPPER is not None:
        pepper = settings.API_KEY_PEPPER.get_secret_value().encode()
        if len(pepper) < MIN_SECRET_BYTES or (
            settings.is_production and pepper.decode() == PLACEHOLDER_SECRET
        ):
            raise ConfigurationError(
                f"API_KEY_PEPPER must be at least {MIN_SECRET_BYTES} bytes of random data"
            )
        return pepper
    secret = settings.SECRET_KEY.get_secret_value().encode()
    return hmac.new(secret, b"api-key-pepper", hashlib.sha256).digest()


def _api_key() -> Principal | None:
    """Who the request's API key speaks for; None if it sends none (a bearer
    token that is not a key is left to the access tokens)."""
    keys = api_keys()
    text = request.headers.get(HEADER)
    if text is None:
        token = bearer_token()
        if token is None or not keys.format.looks_like_key(token):
            return None
        text = token
    verified = keys.verify(get_session, text.strip())
    user = keys.user_state(get_session, verified.user_id, authenticator().states)
    if user is None:
        raise ApiKeyRevoked()
    if not user["active"]:
        raise AccountDisabled()
    # A key never carries the admin role: an administrator's key acts as a
    # regular user (their own rows only, and no administration).
    roles = frozenset(user["roles"]) - {"admin"}
    return KeyPrincipal(verified.user_id, verified.id, roles, scopes=verified.scopes)


def _within_scopes(principal: Principal, view: Callable[..., Any]) -> None:
    if not isinstance(principal, KeyPrincipal):
        return
    scope = required_scope(request.blueprint, request.method, view)
    if scope is None:
        raise KeyNotAllowed()
    if scope not in principal.scopes:
        raise ScopeMissing(scope)


def _document_scopes(document: dict[str, Any], app: Flask) -> None:
    """Name the scope each operation needs in its ``apiKey`` requirement; drop
    the requirement from operations no key may call."""
    methods = {
        id(operation): method.upper()
        for path_item in document["paths"].values()
        for method, operation in path_item.items()
    }
    for rule, view, operation in operations(document, app):
        if "security" not in operation:
            continue
        blueprint = rule.endpoint.rpartition(".")[0] or None
        scope = required_scope(blueprint, methods[id(operation)], view)
        requirements = [entry for entry in operation["security"] if SCHEME_NAME not in entry]
        if scope is not None:
            requirements.insert(0, {SCHEME_NAME: [scope]})
            operation["responses"].setdefault(
                "403", error_response(f"An API key without the scope {scope}")
            )
        operation["security"] = requirements
    # The scopes a new key may have are this app's, not any that match the pattern.
    scopes = document["components"]["schemas"][ApiKeyCreate.__name__]["properties"]["scopes"]
    scopes["items"]["enum"] = sorted(available_scopes(app))
