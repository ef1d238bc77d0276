"""Request and response bodies of API-key management."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.core.inputs import TRIMMED, TRIMMED_FIELD
from app.models.api_key import KEY_NAME_MAX_LENGTH
from app.schemas.page import Page

#: Longest lifetime a key may be given; a key without one lives until revoked.
MAX_EXPIRY_DAYS = 3650
#: ``<area>:<action>``, e.g. ``items:read``.
SCOPE_PATTERN = r"^[a-z][a-z0-9_]{0,39}:(read|write)$"

ApiKeyId = Annotated[uuid.UUID, Field(description="The key's id.")]
Scope = Annotated[str, Field(pattern=SCOPE_PATTERN, examples=["items:read"])]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, Field(min_length=1, max_length=KEY_NAME_MAX_LENGTH, **TRIMMED_FIELD), TRIMMED
    ] = Field(description="What the key is for, e.g. 'nightly export'.")
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=50,
        description="What the key may do: <area>:read for GET, <area>:write for the rest; "
        "the scopes this API offers are listed by GET /api/v1/api-keys/scopes.",
    )
    expires_in_days: int | None = Field(
        default=None, ge=1, le=MAX_EXPIRY_DAYS, description="Unset: until revoked."
    )


class ApiKeyPublic(BaseModel):
    """A key as its owner sees it later: never the secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="Shown in the key itself, to tell keys apart.")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself: shown this once, store it now.")


class ApiKeysPublic(Page[ApiKeyPublic]):
    pass


class ScopesPublic(BaseModel):
    scopes: list[str]
