"""API keys: long-lived credentials a user gives to a machine client."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime, utcnow

KEY_NAME_MAX_LENGTH = 100


class ApiKey(SQLModel, table=True):
    """One key of a user. The secret itself is never stored: only its keyed hash
    (``secret_hash``) and the short ``prefix`` that finds the row."""

    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=KEY_NAME_MAX_LENGTH)
    prefix: str = Field(max_length=16, unique=True, index=True)
    secret_hash: str = Field(max_length=64)
    scopes: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Updated at most once a minute per key, so busy keys do not write on every request.
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
