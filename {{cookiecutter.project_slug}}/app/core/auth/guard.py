"""The Flask side of auth: who may call what, checked before every request.

Deny by default: an endpoint answers 401 without valid credentials unless its
view is marked ``@public`` (``app.core.access``). ``require_roles`` narrows a
view to some roles; the users blueprint requires ``admin`` for everything it
will ever hold.

The guard knows no table and no token format: the modules that do plug in,
when the app is built, with

- :func:`add_scheme`: a way for a request to prove who sent it (the access
  tokens of ``app.features.auth``, say);
- :func:`add_check`: a rule that every authenticated request must pass besides
  its roles (the scopes a credential is limited to, say).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

from app.core import access, caller
from app.core.auth.errors import AuthenticationRequired, NotAllowed
from app.core.auth.principal import ROLES, Principal
from app.core.config import Settings
from app.core.exceptions import APIError
from app.core.openapi import add_document_hook, error_response, operations

F = TypeVar("F", bound=Callable[..., Any])

#: Blueprints whose every endpoint needs one of the roles, including endpoints
#: added later without ``@require_roles``.
ROLE_BLUEPRINTS: dict[str, tuple[str, ...]] = {"users": ("admin",)}
#: The roles that may call views marked ``@privileged`` (``app.core.access``).
PRIVILEGED_ROLES = ("admin",)


@dataclass(frozen=True)
class Scheme:
    """A way for a request to prove who sent it."""

    #: The name the OpenAPI document gives it, e.g. ``bearerAuth``.
    name: str
    #: Who the request's credentials speak for: None if the request carries none
    #: of this scheme; raises an ``AuthenticationError`` if they are not valid.
    authenticate: Callable[[], Principal | None]
    #: Its OpenAPI security scheme object.
    openapi: dict[str, Any]


#: A rule an authenticated request must pass, given its principal and the view it
#: calls; raises ``NotAllowed`` (or another ``APIError``) to refuse it.
Check = Callable[[Principal, Callable[..., Any]], None]


def init_app(app: Flask) -> None:
    """Guard every endpoint of ``app`` (add the schemes that let callers in with
    :func:`add_scheme`)."""
    settings: Settings = app.extensions["settings"]
    app.extensions["auth_schemes"] = []
    app.extensions["auth_checks"] = []
    caller.set_resolver(app, _caller_resolver(frozenset(settings.RATE_LIMIT_EXEMPT_ROLES)))
    app.before_request(_authenticate_request)
    add_document_hook(app, _document_security)


def add_scheme(app: Flask, scheme: Scheme, *, first: bool = False) -> None:
    """Accept the credentials of ``scheme``.

    Schemes are asked in turn; the first that recognizes the request's
    credentials decides. Pass ``first=True`` for a scheme that recognizes its own
    credentials by their form where another scheme would take them too (an API
    key sent as a bearer token, say).
    """
    schemes: list[Scheme] = app.extensions["auth_schemes"]
    schemes.insert(0, scheme) if first else schemes.append(scheme)


def add_check(app: Flask, check: Check) -> None:
    """Run ``check`` on every request that needs authentication, once its
    credentials are found valid (before the roles are checked)."""
    app.extensions["auth_checks"].append(check)


def bearer_token() -> str | None:
    """The token of the request's ``Authorization: Bearer <token>`` header."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def is_public(endpoint: str) -> bool:
    return access.is_public(current_app.view_functions[endpoint])


def _authenticate_request() -> None:
    endpoint = request.endpoint
    # No endpoint: the URL matched nothing, and the 404 handler answers.
    # OPTIONS: CORS preflights carry no credentials by design.
    if endpoint is None or request.method == "OPTIONS" or is_public(endpoint):
        return
    principal = _authenticate()
    if request.blueprint in ROLE_BLUEPRINTS:
        check_roles(principal, ROLE_BLUEPRINTS[request.blueprint])
    if access.is_privileged(current_app.view_functions[endpoint]):
        check_roles(principal, PRIVILEGED_ROLES)


def _authenticate() -> Principal:
    """The request's principal, once it passed every check; or the error that
    says why there is none."""
    if "principal" in g:
        principal: Principal = g.principal
        return principal
    found = _authentication()
    if found is None:
        raise AuthenticationRequired()
    if isinstance(found, APIError):
        raise found
    assert request.endpoint is not None  # only a request to a view is authenticated
    view = current_app.view_functions[request.endpoint]
    for check in current_app.extensions["auth_checks"]:
        check(found, view)
    g.principal = found
    return found


def _authentication() -> Principal | APIError | None:
    """Check the request's credentials once, whoever asks first (the rate
    limiter, to know who the caller is, or the guard). None: it has none."""
    if "authentication" not in g:
        found: Principal | APIError | None = None
        try:
            for scheme in current_app.extensions["auth_schemes"]:
                found = scheme.authenticate()
                if found is not None:
                    break
        except APIError as exc:
            found = exc
        g.authentication = found
    authentication: Principal | APIError | None = g.authentication
    return authentication


def _caller_resolver(exempt_roles: frozenset[str]) -> caller.Resolver:
    """Identify the caller by its credentials, checked against the session and
    the user as they are now: a signed-out or demoted user is no longer exempt."""

    def resolve() -> caller.Caller | None:
        found = _authentication()
        if not isinstance(found, Principal):
            return None
        return caller.Caller(
            key=found.caller_key,
            roles=found.roles,
            unlimited=bool(found.roles & exempt_roles),
            privileged=found.is_admin,
        )

    return resolve


def require_auth(view: F) -> F:
    """Authenticate the request before ``view`` runs (even on a public blueprint)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _authenticate()
        return view(*args, **kwargs)

    wrapper.__auth_roles__ = getattr(view, "__auth_roles__", ())  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def require_roles(*roles: str | Iterable[str]) -> Callable[[F], F]:
    """Allow ``view`` only to users holding at least one of ``roles``.

    Takes ``require_roles("admin")`` or, as in the seed, ``require_roles(["admin"])``.
    """
    wanted = frozenset(
        role for item in roles for role in ([item] if isinstance(item, str) else item)
    )
    unknown = wanted - set(ROLES)
    if not wanted or unknown:
        raise ValueError(f"require_roles needs roles among {ROLES}, got {sorted(unknown)}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_roles(_authenticate(), wanted)
            return view(*args, **kwargs)

        wrapper.__auth_roles__ = tuple(sorted(wanted))  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def check_roles(principal: Principal, roles: Iterable[str]) -> None:
    if not set(roles) & principal.roles:
        raise NotAllowed()


def _document_security(document: dict[str, Any], app: Flask) -> None:
    """Mark every protected operation with the accepted schemes and its 401 (and 403)."""
    schemes: list[Scheme] = app.extensions["auth_schemes"]
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(
        {scheme.name: scheme.openapi for scheme in schemes}
    )
    for rule, view, operation in operations(document, app):
        if access.is_public(view):
            continue
        # Any one of the schemes will do.
        operation["security"] = [{scheme.name: []} for scheme in schemes]
        responses = operation.setdefault("responses", {})
        responses["401"] = error_response("Missing, invalid, expired or revoked access token")
        blueprint, _, _ = rule.endpoint.rpartition(".")
        roles = getattr(view, "__auth_roles__", ()) or ROLE_BLUEPRINTS.get(blueprint, ())
        if access.is_privileged(view):
            roles = PRIVILEGED_ROLES
        if roles:
            responses["403"] = error_response(f"Needs one of the roles: {', '.join(roles)}")
