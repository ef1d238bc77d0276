"""Listings, one page at a time: the query every listing takes and the page it answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

#: Largest id an integer primary key holds on every supported database.
MAX_ID = 2**31 - 1
MAX_PAGE_SIZE = 100

T = TypeVar("T")


class PageQuery(BaseModel):
    """Which page of a listing to answer; a listing with filters or sort keys
    subclasses it."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE, description="Page size.")
    offset: int = Field(default=0, ge=0, le=MAX_ID, description="Rows to skip.")


class Page(BaseModel, Generic[T]):
    """One page of a listing and the total number of rows that match the query.

    Subclass it per resource (``class ItemsPublic(Page[ItemPublic])``), so the
    OpenAPI document names each listing.
    """

    data: list[T]
    count: int
    limit: int
    offset: int

    @classmethod
    def of(cls, rows: Sequence[Any], *, count: int, query: PageQuery) -> Self:
        """The page of ``rows`` (read by attribute: table rows will do) that ``query`` asked for."""
        page = {"data": rows, "count": count, "limit": query.limit, "offset": query.offset}
        return cls.model_validate(page, from_attributes=True)
