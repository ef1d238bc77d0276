"""Liveness, readiness and version: the endpoints operators and load balancers call."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from app.core.access import public
from app.core.openapi import validate
from app.core.rate_limit import rate_limit_exempt
from app.core.readiness import run_probes
from app.core.responses import error, success
from app.schemas.health import Liveness, Readiness, VersionInfo
from app.version import __version__

bp = Blueprint("health", __name__, url_prefix="/api/v1")


@bp.get("/health")
@public
@rate_limit_exempt
@validate(data=Liveness, tags=["health"])
def health() -> Response:
    """Liveness: the process is up. Checks no dependency."""
    return success(Liveness(status="ok"))


@bp.get("/health/ready")
@public
@rate_limit_exempt
@validate(data=Readiness, errors=[503], tags=["health"])
def ready() -> Response:
    """Readiness: every configured dependency answers."""
    checks = run_probes()
    if any(check["status"] != "ok" for check in checks.values()):
        return error("A dependency is unavailable.", "NOT_READY", 503, details={"checks": checks})
    return success(Readiness.model_validate({"status": "ready", "checks": checks}))


@bp.get("/version")
@public
@validate(data=VersionInfo, tags=["health"])
def version() -> Response:
    """The name and version of this service."""
    settings = current_app.extensions["settings"]
    return success(VersionInfo(name=settings.PROJECT_NAME, version=__version__, api="v1"))
