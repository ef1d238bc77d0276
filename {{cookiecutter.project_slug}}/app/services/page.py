"""One page of a listing, and how many rows the listing has in all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, SQLModel, select

M = TypeVar("M", bound=SQLModel)


def fetch_page(
    session: Session,
    model: type[M],
    *,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any],
    limit: int,
    offset: int,
) -> tuple[list[M], int]:
    """The ``model`` rows that meet ``where``, in ``order_by`` order, from ``offset``
    on (at most ``limit``), and how many rows meet ``where`` in total.

    One query gives both (the total is a window count over the matching rows);
    a page past the end asks for the total on its own. End ``order_by`` with a
    unique column, so that pages never overlap or skip rows.
    """
    page = select(model, func.count().over()).where(*where).order_by(*order_by)
    rows = session.exec(page.limit(limit).offset(offset)).all()
    if rows:
        return [row for row, _ in rows], rows[0][1]
    if not offset:
        return [], 0
    return [], session.exec(select(func.count()).select_from(model).where(*where)).one()
