"""Items: create, read, list, update and delete.

``where`` narrows which items a call can find (the caller's visibility, say); an
item outside it is reported missing, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core.exceptions import ConflictError, NotFoundError
from app.models.item import Item
from app.schemas.item import ItemCreate, ItemSort, ItemUpdate
from app.services.page import fetch_page

Conditions = Sequence[ColumnElement[bool]]
_SORT_COLUMNS = {"name": Item.name, "created_at": Item.created_at, "id": Item.id}


def _name_taken(name: str) -> ConflictError:
    return ConflictError(f"An item named {name!r} already exists.", code="ITEM_NAME_TAKEN")


def create_item(session: Session, *, data: ItemCreate, **columns: Any) -> Item:
    """Store a new item (``columns`` set fields the body does not carry, like an owner).

    Raise ``ConflictError`` if the name is taken.
    """
    item = Item.model_validate(data, update=columns)
    try:
        with session.begin_nested():
            session.add(item)
    except IntegrityError as exc:
        raise _name_taken(data.name) from exc
    return item


def get_item(session: Session, *, item_id: int, where: Conditions = ()) -> Item:
    """Return the item or raise ``NotFoundError``."""
    item = session.exec(select(Item).where(Item.id == item_id, *where)).first()
    if item is None:
        raise NotFoundError(f"Item {item_id} does not exist.", code="ITEM_NOT_FOUND")
    return item


def list_items(
    session: Session,
    *,
    limit: int,
    offset: int,
    sort: ItemSort,
    q: str | None = None,
    where: Conditions = (),
) -> tuple[list[Item], int]:
    """Return one page of items and how many items match in total."""
    conditions = list(where)
    if q:
        conditions.append(col(Item.name).icontains(q, autoescape=True))

    column = _SORT_COLUMNS[sort.lstrip("-")]
    order = col(column).desc() if sort.startswith("-") else col(column).asc()
    # The id breaks ties, so pages never overlap or skip rows.
    tiebreak = col(Item.id).desc() if sort.startswith("-") else col(Item.id).asc()
    return fetch_page(
        session, Item, where=conditions, order_by=(order, tiebreak), limit=limit, offset=offset
    )


def update_item(
    session: Session, *, item_id: int, data: ItemUpdate, where: Conditions = ()
) -> Item:
    """Change the fields present in ``data``; raise on a missing item or a taken name."""
    item = get_item(session, item_id=item_id, where=where)
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        return item
    try:
        with session.begin_nested():
            item.sqlmodel_update(changes)
            session.add(item)
    except IntegrityError as exc:
        raise _name_taken(changes["name"]) from exc
    session.refresh(item)
    return item


def delete_item(session: Session, *, item_id: int, where: Conditions = ()) -> None:
    """Delete the item or raise ``NotFoundError``."""
    item = get_item(session, item_id=item_id, where=where)
    session.delete(item)
    session.flush()
