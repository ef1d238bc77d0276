"""The items API: the pattern every resource follows (schemas, service, blueprint)."""

from __future__ import annotations

from flask import Blueprint, Response

from app.core.db import get_session
from app.core.openapi import validate
from app.core.responses import success
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


@bp.post("")
@validate(data=ItemPublic, status=201, errors=[409], tags=["items"])
def create_item(json: ItemCreate) -> Response:
    """Create an item."""
    item = service.create_item(get_session(), data=json)
    return success(ItemPublic.model_validate(item), status=201)


@bp.get("")
@validate(data=ItemsPublic, tags=["items"])
def list_items(query: ItemListQuery) -> Response:
    """List items, one page at a time."""
    page, count = service.list_items(
        get_session(), limit=query.limit, offset=query.offset, sort=query.sort, q=query.q
    )
    return success(
        ItemsPublic(
            data=[ItemPublic.model_validate(item) for item in page],
            count=count,
            limit=query.limit,
            offset=query.offset,
        )
    )


@bp.get("/<item_id>")
@validate(data=ItemPublic, errors=[404], tags=["items"])
def get_item(item_id: ItemId) -> Response:
    """Get an item by id."""
    item = service.get_item(get_session(), item_id=item_id)
    return success(ItemPublic.model_validate(item))


@bp.patch("/<item_id>")
@validate(data=ItemPublic, errors=[404, 409], tags=["items"])
def update_item(item_id: ItemId, json: ItemUpdate) -> Response:
    """Change some fields of an item."""
    item = service.update_item(get_session(), item_id=item_id, data=json)
    return success(ItemPublic.model_validate(item))


@bp.delete("/<item_id>")
@validate(status=204, errors=[404], tags=["items"])
def delete_item(item_id: ItemId) -> Response:
    """Delete an item."""
    service.delete_item(get_session(), item_id=item_id)
    return Response(status=204)
