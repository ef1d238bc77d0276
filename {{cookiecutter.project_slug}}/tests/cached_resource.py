"""A resource for cache tests: a JSON file, read by a cached GET and changed by a POST.

The file plays the database: every app, and every process, given the same path
shares it, so only the cache could make a reader see old data. A second route,
limited to 4 requests a minute, is for tests of shared rate limits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, request

from app.core.access import public
from app.core.cache import cached_response, invalidates
from app.core.exceptions import BadRequestError, NotFoundError
from app.core.rate_limit import apply_view_limits, rate_limit, rate_limit_exempt
from app.core.responses import success

URL = "/_test/resource"
LIMITED_URL = "/_test/limited"
NAMESPACE = "resource"


def add_resource_routes(app: Flask, path: Path) -> None:
    """Serve the JSON object in ``path`` at ``URL`` (GET cached, POST replaces it),
    and ``LIMITED_URL``.

    The routes are public, and those of the resource exempt from rate limits, so
    tests of the cache never meet credentials or limits.
    """
    bp = Blueprint("resource", __name__, url_prefix=URL)

    @bp.get("")
    @public
    @rate_limit_exempt
    @cached_response(NAMESPACE)
    def read() -> Any:
        if not path.exists():
            raise NotFoundError("No resource yet.")
        return success(json.loads(path.read_text()))

    @bp.post("")
    @public
    @rate_limit_exempt
    @invalidates(NAMESPACE)
    def write() -> Any:
        body = request.get_json()
        if not isinstance(body, dict):
            raise BadRequestError("Send a JSON object.")
        path.write_text(json.dumps(body))
        return success(body)

    app.register_blueprint(bp)

    @app.get(LIMITED_URL)
    @public
    @rate_limit("4/minute")
    def limited() -> Any:
        return success({"limited": True})

    apply_view_limits(app)
