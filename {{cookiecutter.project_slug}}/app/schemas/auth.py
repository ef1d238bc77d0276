"""Request and response bodies of sign-up, sign-in, tokens and sessions.

The same rules apply wherever a value comes in: an email is checked and
lower-cased by :data:`Email` at sign-up, sign-in and profile change; a password
is taken as typed (``app.core.auth.passwords`` normalises it the same way when it
hashes and when it checks), and a new one must not be a common password.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import MISSING, AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from app.core.auth.passwords import COMMON_PASSWORDS, is_common
from app.core.inputs import TRIMMED, TRIMMED_FIELD
from app.models.user import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
#: Longest password accepted where one is checked, not set: a longer one answers
#: like a wrong one.
CHECKED_PASSWORD_MAX_LENGTH = 1024


def _email(value: str) -> str:
    # Syntax only (no DNS): whether mail reaches the address is not known here.
    # Special-use domains are refused, except ``.test`` (RFC 6761), which test
    # suites and examples use.
    try:
        checked = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "value_error", "value is not a valid email address: {reason}", {"reason": str(exc)}
        ) from None
    # Compared and stored lower-cased: 'Ann@X.org' and 'ann@x.org' are one account.
    return checked.normalized.lower()


def _not_common(password: str) -> str:
    if is_common(password):
        raise PydanticCustomError(
            "password_too_common",
            "This password is one of the most common ones, which attackers try first: "
            "choose another.",
        )
    return password


Email = Annotated[
    str,
    Field(max_length=EMAIL_MAX_LENGTH, json_schema_extra={"format": "email"}),
    AfterValidator(_email),
]
#: A password being set: long enough, and not one of the common ones.
NewPassword = Annotated[
    str,
    Field(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        json_schema_extra={
            "format": "password",
            "description": "Not one of the most common passwords (compared ignoring case).",
            "not": {"enum": sorted(COMMON_PASSWORDS)},
        },
    ),
    AfterValidator(_not_common),
]
#: A password being checked: any length is accepted, so that a too-long one
#: answers like a wrong one.
CheckedPassword = Annotated[
    str,
    Field(
        min_length=1,
        max_length=CHECKED_PASSWORD_MAX_LENGTH,
        json_schema_extra={"format": "password"},
    ),
]
FullName = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, **TRIMMED_FIELD), TRIMMED]


class _Input(BaseModel):
    # Unknown fields are refused: a body cannot sneak in "roles" or "is_active".
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Input):
    email: Email
    password: NewPassword
    full_name: FullName


class MeUpdate(_Input):
    """Changes to your own profile; only the fields present change.

    Changing the email needs ``current_password``: whoever holds a stolen access
    token must not be able to move the account to an address of theirs.
    """

    model_config = ConfigDict(
        json_schema_extra={"dependentRequired": {"email": ["current_password"]}}
    )

    email: Email | MISSING = MISSING
    full_name: FullName | MISSING = MISSING
    current_password: CheckedPassword | MISSING = MISSING

    @model_validator(mode="after")
    def _password_with_email(self) -> MeUpdate:
        if self.email is not MISSING and self.current_password is MISSING:
            raise PydanticCustomError(
                "current_password_required",
                "Send 'current_password' to change the email.",
            )
        return self


class LoginRequest(_Input):
    email: Email
    password: CheckedPassword


class RefreshRequest(_Input):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class PasswordChange(_Input):
    current_password: CheckedPassword
    new_password: NewPassword


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
