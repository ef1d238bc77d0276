"""Request and response bodies of the items API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field

from app.core.inputs import TRIMMED, TRIMMED_FIELD
from app.models.item import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH
from app.schemas.page import MAX_ID, Page, PageQuery

ItemId = Annotated[int, Field(ge=1, le=MAX_ID, description="The item's id.")]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, **TRIMMED_FIELD), TRIMMED]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH)]


class _Input(BaseModel):
    # Unknown fields are an error, not silently dropped: a typo in a field name
    # should not look like success.
    model_config = ConfigDict(extra="forbid")


class ItemCreate(_Input):
    name: Name
    description: Description | None = None


class ItemUpdate(_Input):
    """A partial update: only the fields present in the body change (a
    ``description`` of null clears it; a name cannot be null)."""

    name: Name | MISSING = MISSING
    description: Description | MISSING | None = MISSING


class ItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class ItemsPublic(Page[ItemPublic]):
    """One page of items and the total number that match the query."""


ItemSort = Literal["name", "-name", "created_at", "-created_at", "id", "-id"]


class ItemListQuery(PageQuery):
    sort: ItemSort = Field(
        default="-created_at", description="Sort key; a leading '-' sorts descending."
    )
    q: str | None = Field(
        default=None, max_length=NAME_MAX_LENGTH, description="Only names containing this text."
    )
