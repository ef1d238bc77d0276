"""The example resource: copy this file to add a table."""

from __future__ import annotations

{% if cookiecutter.use_auth -%}
from sqlalchemy import UniqueConstraint
{% endif -%}
from sqlmodel import Field

from app.models.base import CoreModel

NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000


class Item(CoreModel, table=True):
    __tablename__ = "items"
{%- if cookiecutter.use_auth %}
    # Items are private to their owner, so names are unique per owner: a name
    # one user took must not be refused to another (nor tell them it exists).
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    name: str = Field(max_length=NAME_MAX_LENGTH, index=True)
{%- else %}

    name: str = Field(max_length=NAME_MAX_LENGTH, unique=True, index=True)
{%- endif %}
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
{%- if cookiecutter.use_auth %}
    #: Who created the item; only they (and admins) can see or change it.
    owner_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
{%- endif %}
