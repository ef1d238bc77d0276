"""Bodies of the user administration API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models.user import ROLES
from app.schemas.auth import FullName, UserPublic

MAX_ID = 2**31 - 1
MAX_PAGE_SIZE = 100

UserId = Annotated[int, Field(ge=1, le=MAX_ID, description="The user's id.")]


class UserAdminUpdate(BaseModel):
    """What an admin may change; only the fields present change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: FullName | None = None
    roles: list[str] | None = Field(default=None, min_length=1)
    is_active: bool | None = None

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: list[str] | None) -> list[str] | None:
        if roles is None:
            raise ValueError("roles cannot be null")
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown roles {unknown}; allowed: {list(ROLES)}")
        return sorted(set(roles))

    @field_validator("full_name", "is_active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep it")
        return value


class UserListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(default=0, ge=0, le=MAX_ID)


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int
    limit: int
    offset: int
