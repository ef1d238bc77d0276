"""Your API keys: create them (the secret is shown once), list and revoke them.

Only a signed-in user manages keys: a key cannot create, see or revoke keys.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from app.api.api_keys import api_keys, available_scopes
from app.core.auth import current_user_id
from app.core.cache import BackendError
from app.core.db import get_session
from app.core.exceptions import ServiceUnavailableError
from app.core.openapi import validate
from app.core.rate_limit import rate_limit, write_limit
from app.core.responses import success
from app.schemas.api_key import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyId,
    ApiKeyPublic,
    ApiKeysPublic,
    ScopesPublic,
)
from app.schemas.page import PageQuery

bp = Blueprint("api_keys", __name__, url_prefix="/api/v1/api-keys")


class KeyStateUnavailable(ServiceUnavailableError):
    code = "API_KEY_STATE_UNAVAILABLE"
    message = (
        "The change could not be made visible to every server, so nothing was changed. "
        "Retry after the seconds in Retry-After."
    )

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


@bp.post("")
@rate_limit(write_limit)
@validate(data=ApiKeyCreated, status=201, errors=[409, 503], tags=["api-keys"])
def create_key(json: ApiKeyCreate) -> Response:
    """Create a key; its secret is in this answer only."""
    try:
        key, text = api_keys().create(
            get_session(),
            user_id=current_user_id(),
            data=json,
            available=available_scopes(current_app),
        )
    except BackendError as exc:
        raise KeyStateUnavailable() from exc
    public = ApiKeyPublic.model_validate(key)
    return success(ApiKeyCreated(**public.model_dump(), key=text), status=201)


@bp.get("")
@validate(data=ApiKeysPublic, tags=["api-keys"])
def list_keys(query: PageQuery) -> Response:
    """Your keys, newest first, revoked ones included (never their secrets)."""
    rows, count = api_keys().list_keys(
        get_session(), user_id=current_user_id(), limit=query.limit, offset=query.offset
    )
    return success(ApiKeysPublic.of(rows, count=count, query=query))


@bp.get("/scopes")
@validate(data=ScopesPublic, tags=["api-keys"])
def list_scopes() -> Response:
    """The scopes a key can be given."""
    return success(ScopesPublic(scopes=sorted(available_scopes(current_app))))


@bp.get("/<key_id>")
@validate(data=ApiKeyPublic, errors=[404], tags=["api-keys"])
def get_key(key_id: ApiKeyId) -> Response:
    """One of your keys."""
    key = api_keys().get(get_session(), key_id=key_id, user_id=current_user_id())
    return success(ApiKeyPublic.model_validate(key))


@bp.delete("/<key_id>")
@rate_limit(write_limit)
@validate(data=ApiKeyPublic, errors=[404, 503], tags=["api-keys"])
def revoke_key(key_id: ApiKeyId) -> Response:
    """Revoke one of your keys, on every server at once (revoking it again changes nothing)."""
    session = get_session()
    keys = api_keys()
    key = keys.get(session, key_id=key_id, user_id=current_user_id())
    try:
        keys.revoke(session, key=key)
    except BackendError as exc:
        raise KeyStateUnavailable() from exc
    return success(ApiKeyPublic.model_validate(key))
