"""Bodies of the user administration API."""

from __future__ import annotations

from typing import Annotated

from pydantic import MISSING, BaseModel, ConfigDict, Field, field_validator

from app.core.auth.principal import ROLES
from app.schemas.auth import FullName, UserPublic
from app.schemas.page import MAX_ID, Page

UserId = Annotated[int, Field(ge=1, le=MAX_ID, description="The user's id.")]
Role = Annotated[str, Field(json_schema_extra={"enum": list(ROLES)})]


class UserAdminUpdate(BaseModel):
    """What an admin may change; only the fields present change."""

    model_config = ConfigDict(extra="forbid")

    full_name: FullName | MISSING = MISSING
    roles: Annotated[list[Role], Field(min_length=1, max_length=len(ROLES))] | MISSING = MISSING
    is_active: bool | MISSING = MISSING

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown roles {unknown}; allowed: {list(ROLES)}")
        return sorted(set(roles))


class UsersPublic(Page[UserPublic]):
    """One page of users and the total number of users."""
