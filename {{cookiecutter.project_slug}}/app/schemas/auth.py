"""Request and response bodies of sign-up, sign-in, tokens and sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, field_validator

from app.models.user import NAME_MAX_LENGTH

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128

#: Emails compare and store lower-cased, so 'Ann@X.org' and 'ann@x.org' are one account.
Email = Annotated[EmailStr, AfterValidator(str.lower)]
Password = Annotated[str, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)]
FullName = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH)]


class _Input(BaseModel):
    # Unknown fields are refused: a body cannot sneak in "roles" or "is_active".
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UserCreate(_Input):
    email: Email
    password: Annotated[Password, Field(json_schema_extra={"format": "password"})]
    full_name: FullName


class MeUpdate(_Input):
    """Changes to your own profile; only the fields present change."""

    email: Email | None = None
    full_name: FullName | None = None

    @field_validator("email", "full_name")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep it")
        return value


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    # Any length is accepted here, so a too-long password answers like a wrong one.
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[str, Field(min_length=1, max_length=1024)]
    new_password: Password


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth 2 token type
    expires_in: int = Field(description="Seconds until the access token expires.")


class UserPublic(BaseModel):
    """A user as the API shows it: never the password hash."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str
    is_active: bool
    roles: list[str]
    created_at: datetime


class SessionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    client_ip: str | None
    current: bool = Field(default=False, description="Whether this request uses this session.")


class SessionsPublic(BaseModel):
    data: list[SessionPublic]
    count: int
