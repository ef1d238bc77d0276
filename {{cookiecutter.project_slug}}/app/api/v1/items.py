"""The items API: the pattern every resource follows (schemas, service, blueprint).

Every call passes :func:`~app.core.scoping.visible` conditions to the service, so
whatever rules the project registers (ownership, tenants) apply to items too.
"""

from __future__ import annotations

from flask import Blueprint, Response

from app.core.cache import cached_response, invalidates
from app.core.caller import caller_key
from app.core.db import get_session
from app.core.openapi import validate
from app.core.rate_limit import rate_limit, write_limit
from app.core.responses import success
from app.core.scoping import stamp, visible
from app.models.item import Item
from app.schemas.item import (
    ItemCreate,
    ItemId,
    ItemListQuery,
    ItemPublic,
    ItemsPublic,
    ItemUpdate,
)
from app.services import items as service

bp = Blueprint("items", __name__, url_prefix="/api/v1/items")

# Reads are served from the cache until a write to any item invalidates them,
# kept apart per caller: what one caller may see is not what another may.
CACHE_NAMESPACE = "items"


@bp.post("")
@rate_limit(write_limit)
@invalidates(CACHE_NAMESPACE)
@validate(data=ItemPublic, status=201, errors=[409], tags=["items"])
def create_item(json: ItemCreate) -> Response:
    """Create an item."""
    item = service.create_item(get_session(), data=json, **stamp(Item))
    return success(ItemPublic.model_validate(item), status=201)


@bp.get("")
@cached_response(CACHE_NAMESPACE, vary=caller_key)
@validate(data=ItemsPublic, tags=["items"])
def list_items(query: ItemListQuery) -> Response:
    """List items, one page at a time."""
    page, count = service.list_items(
        get_session(),
        limit=query.limit,
        offset=query.offset,
        sort=query.sort,
        q=query.q,
        where=visible(Item),
    )
    return success(ItemsPublic.of(page, count=count, query=query))


@bp.get("/<item_id>")
@cached_response(CACHE_NAMESPACE, vary=caller_key)
@validate(data=ItemPublic, errors=[404], tags=["items"])
def get_item(item_id: ItemId) -> Response:
    """Get an item by id."""
    item = service.get_item(get_session(), item_id=item_id, where=visible(Item))
    return success(ItemPublic.model_validate(item))


@bp.patch("/<item_id>")
@rate_limit(write_limit)
@invalidates(CACHE_NAMESPACE)
@validate(data=ItemPublic, errors=[404, 409], tags=["items"])
def update_item(item_id: ItemId, json: ItemUpdate) -> Response:
    """Change some fields of an item."""
    item = service.update_item(get_session(), item_id=item_id, data=json, where=visible(Item))
    return success(ItemPublic.model_validate(item))


@bp.delete("/<item_id>")
@rate_limit(write_limit)
@invalidates(CACHE_NAMESPACE)
@validate(status=204, errors=[404], tags=["items"])
def delete_item(item_id: ItemId) -> Response:
    """Delete an item."""
    service.delete_item(get_session(), item_id=item_id, where=visible(Item))
    return Response(status=204)
