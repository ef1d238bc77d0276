"""Bodies of the health, readiness and version endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    status: Literal["ok"]


class DependencyStatus(BaseModel):
    status: Literal["ok", "down"]
    latency_ms: float | None = None
    error: str | None = None


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, DependencyStatus]


class VersionInfo(BaseModel):
    name: str
    version: str
    api: str
