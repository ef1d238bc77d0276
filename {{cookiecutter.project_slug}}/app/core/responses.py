"""The response envelope every endpoint answers with, serialized once (by
pydantic-core, straight from the models).

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
from pydantic_core import to_json

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
    body = {"success": True, "message": message, "data": data, "warnings": warnings or []}
    return json_response(with_request_id(to_json(body)), status, headers)


def error(
    message: str,
    code: str,
    status: int,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build the error envelope."""
    body = {"success": False, "message": message, "error": {"code": code, "details": details}}
    return json_response(with_request_id(to_json(body)), status, headers)


def with_request_id(envelope: bytes) -> bytes:
    """An envelope serialized without its ``request_id``, with the current
    request's id added as its last member (so that a cached envelope can be
    served again with another id, without parsing it)."""
    return envelope[:-1] + _request_id_member() + b"}"


def without_request_id(body: bytes) -> bytes | None:
    """The envelope ``with_request_id`` made, without its id; None for a body it did not make."""
    member = _request_id_member() + b"}"
    return body[: -len(member)] + b"}" if body.endswith(member) else None


def _request_id_member() -> bytes:
    return b',"request_id":' + to_json(get_request_id())


def json_response(body: bytes, status: int, headers: dict[str, str] | None = None) -> Response:
    """A response of serialized JSON ``body``."""
    response = current_app.response_class(body, status=status, mimetype="application/json")
    if headers:
        response.headers.update(headers)
    return response
