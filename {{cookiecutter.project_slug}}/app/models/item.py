"""The example resource: copy this file to add a table."""

from __future__ import annotations

from sqlmodel import Field

from app.models.base import CoreModel

NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000


class Item(CoreModel, table=True):
    __tablename__ = "items"

    name: str = Field(max_length=NAME_MAX_LENGTH, unique=True, index=True)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
{%- if cookiecutter.use_auth %}
    #: Who created the item; only they (and admins) can see or change it.
    owner_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
{%- endif %}
