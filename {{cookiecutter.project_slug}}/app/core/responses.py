"""The response envelope every endpoint answers with.

Success::

    {"success": true, "message": null, "data": {...}, "warnings": [], "request_id": "..."}

Error::

    {"success": false, "message": "...", "error": {"code": "...", "details": ...},
     "request_id": "..."}
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from flask import Response, current_app
from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from app.core.logs import get_request_id

T = TypeVar("T")
#: Where an invalid input value was found.
Location = Literal["body", "query", "path", "header"]


class FieldError(BaseModel):
    """One invalid input value."""

    location: Location
    field: str = Field(description="Dotted path of the value, e.g. 'tags.0'.")
    message: str
    type: str = Field(description="Stable error type, e.g. 'string_too_short'.")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code.")
    details: Any = Field(default=None, description="Structured details, if any.")


class ErrorResponse(BaseModel):
    """The envelope of every error."""

    success: Literal[False] = False
    message: str
    error: ErrorBody
    request_id: str


class SuccessResponse(BaseModel, Generic[T]):
    """The envelope of every successful response; ``data`` varies per endpoint."""

    success: Literal[True] = True
    message: str | None = None
    data: T
    warnings: list[str] = []
    request_id: str


def success(
    data: Any = None,
    *,
    status: int = 200,
    message: str | None = None,
    warnings: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Wrap ``data`` (a Pydantic model, or JSON-ready value) in the success envelope."""
    body = {
        "success": True,
        "message": message,
        "data": to_jsonable_python(data),
        "warnings": warnings or [],
        "request_id": get_request_id(),
    }
    return _json(body, status, headers)


def error(
    message: str,
    code: str,
    status: int,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build the error envelope."""
    body = {
        "success": False,
        "message": message,
        "error": {"code": code, "details": to_jsonable_python(details)},
        "request_id": get_request_id(),
    }
    return _json(body, status, headers)


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None) -> Response:
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype="application/json"
    )
    response.headers.update(headers or {})
    return response
