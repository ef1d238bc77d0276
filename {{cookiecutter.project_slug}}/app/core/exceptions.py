"""Errors that services and views raise; each one knows its HTTP status and code.

This module imports nothing from Flask, so services can raise these errors and
stay usable outside a request. ``app.core.errors`` turns them into responses.
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An error the client should see, with a stable machine-readable ``code``.

    :param message: A sentence for humans; it is sent to the client as is.
    :param code: A stable identifier clients can branch on (``ITEM_NOT_FOUND``).
    :param status: The HTTP status of the response.
    :param details: Extra structured information (field errors, limits, ...).
    :param headers: Response headers to add (``Retry-After``, ``Allow``, ...).
    """

    status: int = 400
    code: str = "BAD_REQUEST"
    message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        code: str | None = None,
        status: int | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequestError(APIError):
    status, code, message = 400, "BAD_REQUEST", "The request is malformed."


class UnauthorizedError(APIError):
    status, code, message = 401, "UNAUTHORIZED", "Authentication is required."


class ForbiddenError(APIError):
    status, code, message = 403, "FORBIDDEN", "You are not allowed to do this."


class NotFoundError(APIError):
    status, code, message = 404, "NOT_FOUND", "The resource was not found."


class ConflictError(APIError):
    status, code, message = 409, "CONFLICT", "The request conflicts with existing data."


class ValidationFailedError(APIError):
    status, code, message = 422, "VALIDATION_ERROR", "The request is not valid."


class ServiceUnavailableError(APIError):
    status, code, message = 503, "SERVICE_UNAVAILABLE", "The service is unavailable."
