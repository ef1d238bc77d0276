"""Accounts and their sign-in sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from app.models.base import CoreModel, UTCDateTime, utcnow

EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 200


class User(CoreModel, table=True):
    __tablename__ = "users"

    #: Stored lower-cased, so the unique index makes emails unique regardless of case.
    email: str = Field(max_length=EMAIL_MAX_LENGTH, unique=True, index=True)
    hashed_password: str = Field(max_length=512)
    full_name: str = Field(max_length=NAME_MAX_LENGTH)
    is_active: bool = Field(default=True)
    roles: list[str] = Field(default_factory=lambda: ["user"], sa_type=JSON, nullable=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class AuthSession(SQLModel, table=True):
    """One sign-in: the family of refresh tokens that descend from one login.

    Only the newest refresh token of a session is valid (``refresh_jti``); a
    revoked session rejects its access tokens on the next request.
    """

    __tablename__ = "auth_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    refresh_jti: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    #: Sliding: each refresh moves it forward, up to the session's maximum age.
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=40)
    user_agent: str | None = Field(default=None, max_length=256)
    client_ip: str | None = Field(default=None, max_length=45)

    def is_usable(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now
